// `imgprompt render --backend a,b,c [--retries N]` and `--shard i/n`: the options, the pool's members
// (servers named in the project's imgprompt.backends.json, inline `comfyui+http://host:port` /
// `a1111+http://host:port`, and `local` for this machine's engine), and the pooled run with its summary.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BACKENDS_FILE,
  CancelledError,
  createRemoteBackend,
  executePool,
  InputError,
  parseBackendsFile,
  parseServerConfig,
  parseShard,
  type PlannedJob,
  type PoolMember,
  type RemoteServerConfig,
  type RenderBackend,
  type RenderService,
  SceneError,
  type Shard,
} from '../engine/index';
import { UsageError, type CliIO } from './command';
import { planScene, planWarnings, seconds } from './renderSupport';
import { displayPath, findProjectRoot } from './sceneContext';

export interface PoolOptionsFromArgs {
  readonly backends?: readonly string[];
  readonly shard?: Shard;
  readonly retries?: number;
  readonly rest: string[];
}

/** Takes `--backend LIST`, `--shard i/n` and `--retries N` (also as `--x=value`) out of `args`. */
export function takePoolOptions(args: readonly string[]): PoolOptionsFromArgs {
  const rest: string[] = [];
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const name = ['--backend', '--shard', '--retries'].find((n) => arg === n || arg.startsWith(`${n}=`));
    if (!name) {
      rest.push(arg);
      continue;
    }
    const value = arg === name ? args[++i] : arg.slice(name.length + 1);
    if (value === undefined || value === '') throw new UsageError(`${name} needs a value`);
    values.set(name, value);
  }
  const retriesText = values.get('--retries');
  const retries = retriesText === undefined ? undefined : Number(retriesText);
  if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0)) throw new UsageError(`--retries must be a whole number, got '${retriesText}'`);
  let shard: Shard | undefined;
  try {
    shard = values.has('--shard') ? parseShard(values.get('--shard') ?? '') : undefined;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const backends = values.get('--backend')?.split(',').map((s) => s.trim()).filter(Boolean);
  return { backends, shard, retries, rest };
}

/** The servers the project names (none when it has no imgprompt.backends.json). */
export function projectServers(projectRoot: string): RemoteServerConfig[] {
  const file = join(projectRoot, BACKENDS_FILE);
  if (!existsSync(file)) return [];
  return parseBackendsFile(readFileSync(file, 'utf8'), file);
}

/** Pool members for `--backend` names; `local` is the service's own (local ONNX) backend. */
export function poolMembers(names: readonly string[], servers: readonly RemoteServerConfig[], service: RenderService): PoolMember[] {
  return names.map((name) => {
    if (name === 'local') return { label: 'local', backend: service.backend, concurrency: 1 };
    const inline = /^(comfyui|a1111)\+(https?:\/\/.+)$/.exec(name);
    if (inline) {
      const server = parseServerConfig(new URL(inline[2]).host, { api: inline[1], url: inline[2] }, '--backend');
      return { label: server.name, backend: createRemoteBackend(server), concurrency: 1 };
    }
    const server = servers.find((s) => s.name === name);
    if (!server) {
      const known = ['local', ...servers.map((s) => s.name)].join(', ');
      throw new InputError(`--backend: no server named '${name}' (known: ${known}; add it to ${BACKENDS_FILE} or write comfyui+http://host:port)`);
    }
    return { label: server.name, backend: createRemoteBackend(server), concurrency: server.concurrency ?? 1 };
  });
}

/** The servers scenes name with `backend:`, made once per name for a command's run. */
export class SceneBackends {
  private readonly made = new Map<string, RenderBackend>();
  private servers?: RemoteServerConfig[];

  constructor(
    private readonly projectRoot: string,
    private readonly service: RenderService,
  ) {}

  get(name: string): RenderBackend {
    let backend = this.made.get(name);
    if (!backend) {
      this.servers ??= projectServers(this.projectRoot);
      backend = poolMembers([name], this.servers, this.service)[0].backend;
      this.made.set(name, backend);
    }
    return backend;
  }

  async dispose(): Promise<void> {
    for (const backend of this.made.values()) if (backend !== this.service.backend) await backend.dispose().catch(() => undefined);
  }
}

/** Plans every scene (problems reported per scene), then renders the jobs over the `--backend` pool. */
export async function renderOverPool(
  service: RenderService,
  files: readonly string[],
  modelPaths: readonly string[],
  io: CliIO,
  options: { force: boolean; saveHints: boolean; retries?: number; backends: readonly string[] },
  signal: AbortSignal,
): Promise<number> {
  const members = poolMembers(options.backends, projectServers(findProjectRoot(join(io.cwd, 'scene'))), service);
  const jobs: PlannedJob[] = [];
  let failed = 0;
  for (const file of files) {
    try {
      const plan = await planScene(service, file, modelPaths, io, signal);
      for (const w of planWarnings(plan, io)) io.stderr(`${w}\n`);
      jobs.push(...plan.jobs);
    } catch (error) {
      if (error instanceof CancelledError || !(error instanceof Error)) throw error;
      failed++;
      io.stderr(error instanceof SceneError ? `${error.message}\n` : `${displayPath(file, io.cwd)}: error: ${error.message}\n`);
    }
  }
  return failed + (await renderPooled(jobs, members, io, { ...options, signal }));
}

/** Renders planned jobs over the pool, printing one line per figure and a summary; returns the failures. */
export async function renderPooled(jobs: PlannedJob[], members: PoolMember[], io: CliIO, options: { force: boolean; saveHints: boolean; retries?: number; signal: AbortSignal }): Promise<number> {
  const { results, summary } = await executePool(jobs, members, {
    force: options.force,
    saveHints: options.saveHints,
    retries: options.retries,
    signal: options.signal,
    events: {
      onRetry: (planned, member, error) => io.stderr(`${displayPath(planned.job.output, io.cwd)}: ${member} failed (${error.message}); trying again\n`),
      onJobDone: (r) => {
        const out = displayPath(r.planned.job.output, io.cwd);
        if (r.error) return io.stderr(`${out}: error: ${r.error.message}\n`);
        if (r.outcome?.action === 'skipped') return io.stdout(`${out}: up to date\n`);
        const t = r.outcome?.render?.timings.totalMs ?? 0;
        io.stdout(`${out}: rendered on ${r.member} in ${seconds(t)}${r.attempts > 1 ? ` (attempt ${r.attempts})` : ''}\n`);
      },
    },
  });
  io.stdout(`pool: ${summary.rendered} rendered, ${summary.skipped} up to date, ${summary.failed} failed in ${seconds(summary.wallMs)}\n`);
  for (const m of summary.members) io.stdout(`  ${m.label}: ${m.rendered} rendered, ${m.failed} failed, ${m.retried} retried, busy ${seconds(m.busyMs)}\n`);
  // The local member is the service's own backend, disposed with the service.
  for (const m of members) if (m.label !== 'local') await m.backend.dispose().catch(() => undefined);
  return results.filter((r) => r.error).length;
}
