// What render, verify and watch share: one Engine per process, scene → jobs, and progress display.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Engine, formatDiagnostic, resolveScene, SceneError, type RenderJob, type RenderProgress } from '../engine/index';
import { UsageError, type CliIO } from './command';
import { displayPath, sceneContext } from './sceneContext';

/** The persistent cache folder: IMGPROMPT_CACHE_DIR, else $XDG_CACHE_HOME/imgprompt, else ~/.cache/imgprompt. */
export function cacheDir(env: NodeJS.ProcessEnv): string {
  if (env.IMGPROMPT_CACHE_DIR) return env.IMGPROMPT_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'imgprompt');
}

/** Threads from IMGPROMPT_THREADS (0 or unset: onnxruntime's default of the physical cores). */
export function threads(env: NodeJS.ProcessEnv): number | undefined {
  const n = Number(env.IMGPROMPT_THREADS ?? 0);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * IMGPROMPT_MEMORY_LIMIT: the most memory loaded models may take, as bytes or with a unit (`6GB`,
 * `512MB`, `1.5GiB`). Unset or empty: no limit beyond what the OS reports available.
 */
export function memoryLimit(env: NodeJS.ProcessEnv): number | undefined {
  const text = env.IMGPROMPT_MEMORY_LIMIT?.trim();
  if (!text) return undefined;
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?$/i.exec(text);
  const unit = match?.[2]?.toLowerCase().replace(/i?b$/, '') ?? '';
  const scale = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit];
  if (!match || scale === undefined) throw new UsageError(`IMGPROMPT_MEMORY_LIMIT must be a size such as 6GB or 512MB, got '${text}'`);
  return Math.floor(Number(match[1]) * scale);
}

export function createEngine(env: NodeJS.ProcessEnv): Promise<Engine> {
  return Engine.create({ cacheDir: cacheDir(env), threads: threads(env), memoryLimitBytes: memoryLimit(env) });
}

export interface PlannedScene {
  readonly file: string;
  readonly jobs: RenderJob[];
  readonly warnings: string[];
}

/** Reads, resolves and plans one scene; scene problems come back as SceneError with every diagnostic. */
export async function planScene(engine: Engine, file: string, modelPaths: readonly string[], io: CliIO, signal: AbortSignal): Promise<PlannedScene> {
  const context = sceneContext(file, modelPaths, io.cwd, io.env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new SceneError(displayPath(file, io.cwd), [
      { severity: 'error', code: 'missing-file', message: `cannot read: ${(error as Error).message}`, range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } } },
    ]);
  }
  let resolved;
  try {
    resolved = resolveScene(text, context);
  } catch (error) {
    if (error instanceof SceneError) throw new SceneError(displayPath(file, io.cwd), error.diagnostics);
    throw error;
  }
  const warnings = resolved.diagnostics.map((d) => formatDiagnostic(displayPath(file, io.cwd), d));
  return { file, jobs: await engine.plan(resolved, context.projectRoot, signal), warnings };
}

/** A one-line progress display: a bar redrawn in place on a terminal, nothing in logs (CI). */
export function progressLine(io: CliIO, label: string): { update(p: RenderProgress): void; done(): void } {
  if (!io.isTTY) return { update() {}, done() {} };
  let last = '';
  return {
    update(p) {
      const width = 24;
      const filled = p.total > 0 ? Math.round((p.step / p.total) * width) : 0;
      const line = `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.phase} ${p.step}/${p.total}`;
      if (line !== last) io.stdout(line);
      last = line;
    },
    done() {
      if (last) io.stdout(`\r${' '.repeat(last.length)}\r`);
    },
  };
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
