// `imgprompt models pull|list|verify|gc`: the models a project names by reference (hf:...), kept in the
// Hugging Face cache and pinned by imgprompt.lock.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  collectGarbage,
  findCachedCivitaiVersion,
  findCachedHfRef,
  LockfileError,
  ModelError,
  looksLikeHubRef,
  parseHubRef,
  pullCivitaiRef,
  pullHfRef,
  readLockfile,
  repoCachePaths,
  verifyLockedFiles,
  verifyLocalFiles,
  type Lockfile,
  type PullProgress,
} from '../../engine/index';
import { UsageError, type Command, type CliIO } from '../command';
import { cliHubSettings, downloadProgress, formatBytes, pullSceneFile } from '../hubSupport';
import { terminalSafe } from '../renderSupport';
import { displayPath, findProjectRoot } from '../sceneContext';
import { expandSceneTargets, takeFlagsAndTargets } from '../sceneTargets';

const usage = `usage: imgprompt models <pull|list|verify|gc> [options] [ARGS...]

  pull [--locked] FILE|DIR|GLOB|REF...
                 download the models that scenes name by reference (updating their project's
                 imgprompt.lock; with --locked, only what the lock pins), or the references given:
                 hf:org/name[@revision][/file], civitai:VERSION, urn:air:...:civitai:MODEL@VERSION
  list [DIR]     the project's locked models: revision, commit, licence, size, downloaded or not; and
                 its own locked model/LoRA files with what Civitai says of them
  verify [DIR]   check every locked file in the cache, and the project's own locked model/LoRA files,
                 against imgprompt.lock (size and sha256); exit 1 on a difference
  gc [--dry-run] [DIR]
                 delete blobs imgprompt downloaded that the project's imgprompt.lock no longer uses
                 (never files other tools put in the cache)

DIR is a folder of the project (default: the working directory); its project root is the nearest
folder with .git. Environment: HF_HUB_CACHE / HF_HOME (the cache), HF_ENDPOINT, HF_TOKEN,
HF_HUB_OFFLINE=1 (no network).`;

function projectOf(args: string[], io: CliIO): { root: string; lock: Lockfile } {
  if (args.length > 1) throw new UsageError('give at most one project folder');
  const dir = resolve(io.cwd, args[0] ?? '.');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${args[0]} is not a folder`);
  const root = findProjectRoot(join(dir, 'x.imgprompt'));
  return { root, lock: readLockfile(root) };
}

async function pull(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { flags, targets } = takeFlagsAndTargets(args, ['--locked']);
  if (targets.length === 0) throw new UsageError('name scenes, folders or hf: references to pull');
  const refs = targets.filter((t) => looksLikeHubRef(t));
  const { files, problems } = expandSceneTargets(targets.filter((t) => !looksLikeHubRef(t)), io.cwd);
  for (const p of problems) io.stderr(`${displayPath(p.target, io.cwd)}: error: ${p.message}\n`);
  let failed = problems.length;
  const settings = cliHubSettings(io.env);
  for (const text of refs) {
    const ref = parseHubRef(text);
    if ('error' in ref) throw new UsageError(ref.error);
    const bar = downloadProgress(io);
    try {
      const common = { offline: settings.offline, signal, onProgress: (p: PullProgress) => bar.update(p), onNote: (t: string) => io.stderr(`${t}\n`) };
      const pulled =
        ref.kind === 'hf'
          ? await pullHfRef(ref, { ...common, cacheDir: settings.cacheDir, endpoint: settings.endpoint, recordFile: settings.recordFile })
          : await pullCivitaiRef(ref, { ...common, civitaiDir: settings.civitai.dir, endpoint: settings.civitai.endpoint });
      bar.done();
      io.stdout(`${text}: ${pulled.entry.commit} → ${pulled.path}\n`);
    } catch (error) {
      bar.done();
      if (!(error instanceof ModelError)) throw error;
      failed++;
      io.stderr(`${error.message}\n`);
    }
  }
  for (const file of files) {
    try {
      const result = await pullSceneFile(file, io, signal, flags.has('--locked'), !flags.has('--locked'));
      for (const p of result?.pulled ?? []) io.stdout(`${displayPath(file, io.cwd)}: ${p.entry.repo}@${p.entry.commit.slice(0, 12)} ready (${formatBytes(p.downloaded)} downloaded)\n`);
    } catch (error) {
      if (!(error instanceof ModelError || error instanceof LockfileError)) throw error;
      failed++;
      io.stderr(`${displayPath(file, io.cwd)}: error: ${error.message}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}

function list(args: string[], io: CliIO): number {
  const { root, lock } = projectOf(args, io);
  const { cacheDir, civitai } = cliHubSettings(io.env);
  const keys = Object.keys(lock.models).sort();
  if (keys.length === 0) io.stdout(`${displayPath(join(root, 'imgprompt.lock'), io.cwd)}: no locked models\n`);
  for (const key of keys) {
    const e = lock.models[key];
    const size = Object.values(e.files).reduce((n, f) => n + f.size, 0);
    const ref = parseHubRef(key);
    const cached = 'error' in ref ? { found: false } : ref.kind === 'hf' ? findCachedHfRef(cacheDir, { ...ref, revision: e.commit }) : { found: findCachedCivitaiVersion(civitai.dir, ref.versionId) !== undefined };
    io.stdout(`${key}\n  commit ${e.commit}, ${Object.keys(e.files).length} files, ${formatBytes(size)}, licence ${e.license ?? 'unknown'}, ${cached.found ? 'downloaded' : 'not downloaded'}\n`);
  }
  for (const [file, e] of Object.entries(lock.local ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const civitaiFacts = e.civitai ? `, ${e.civitai}${e.baseModel ? ` (${e.baseModel})` : ''}` : '';
    io.stdout(`${file} (project file)\n  ${formatBytes(e.size)}, sha256 ${e.sha256.slice(0, 12)}, licence ${e.license ?? 'unknown'}${civitaiFacts}\n`);
  }
  return 0;
}

async function verify(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { lock, root } = projectOf(args, io);
  const settings = cliHubSettings(io.env);
  const problems = [...(await verifyLockedFiles(lock, settings.cacheDir, settings.civitai.dir, signal)), ...(await verifyLocalFiles(lock, root, signal))];
  for (const p of problems) io.stdout(`${p.key}: ${p.file}: ${p.problem}\n`);
  const count = Object.values(lock.models).reduce((n, e) => n + Object.keys(e.files).length, 0) + Object.keys(lock.local ?? {}).length;
  io.stderr(`verified ${count} locked file${count === 1 ? '' : 's'}: ${problems.length === 0 ? 'all match' : `${problems.length} with problems`}\n`);
  return problems.length > 0 ? 1 : 0;
}

function gc(args: string[], io: CliIO): number {
  const dryRun = args.includes('--dry-run');
  const targets = args.filter((a) => a !== '--dry-run');
  const unknown = targets.find((a) => a.startsWith('-'));
  if (unknown) throw new UsageError(`unknown option '${unknown}'`);
  const { lock } = projectOf(targets, io);
  const settings = cliHubSettings(io.env);
  if (!settings.recordFile) return 0;
  const result = collectGarbage(settings.recordFile, settings.cacheDir, [lock], dryRun);
  for (const r of result.removed) io.stdout(`${dryRun ? 'would delete' : 'deleted'} ${join(repoCachePaths(settings.cacheDir, r.repo).blobs, r.blob)}\n`);
  io.stderr(`${dryRun ? 'would free' : 'freed'} ${formatBytes(result.freedBytes)}; ${result.kept} downloaded blob${result.kept === 1 ? '' : 's'} still in use\n`);
  return 0;
}

export const modelsCommand: Command = {
  name: 'models',
  summary: 'pull, list, verify and clean the hf: models scenes name (imgprompt.lock)',
  usage,
  async run(args, rawIO, signal) {
    const io = terminalSafe(rawIO);
    const [sub, ...rest] = args;
    try {
      if (sub === 'pull') return await pull(rest, io, signal);
      if (sub === 'list') return list(rest, io);
      if (sub === 'verify') return await verify(rest, io, signal);
      if (sub === 'gc') return gc(rest, io);
    } catch (error) {
      if (error instanceof LockfileError) {
        io.stderr(`${error.message}\n`);
        return 1;
      }
      throw error;
    }
    throw new UsageError(sub ? `unknown models subcommand '${sub}'` : 'name a subcommand: pull, list, verify or gc');
  },
};
