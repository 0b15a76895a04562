// What render, verify and watch share: one render service per process, scene → plan, and progress display.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createRenderService, escapeTerminalText, EXECUTION_PROVIDERS, isExecutionProviderSetting, type ExecutionProviderSetting, formatDiagnostic, SceneError, type RenderPlan, type RenderProgress, type RenderService } from '../engine/index';
import { UsageError, type CliIO } from './command';
import { displayPath, sceneContext } from './sceneContext';
import { provenanceSettings } from './c2paSupport';

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

/** IMGPROMPT_MAX_MEGAPIXELS: the largest render allowed (the engine's default when unset). */
export function maxMegapixels(env: NodeJS.ProcessEnv): number | undefined {
  const text = env.IMGPROMPT_MAX_MEGAPIXELS?.trim();
  if (!text) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`IMGPROMPT_MAX_MEGAPIXELS must be a positive number of megapixels, got '${text}'`);
  return value;
}

/** IMGPROMPT_EXECUTION_PROVIDER: cpu (default), auto, cuda, dml, coreml or webgpu. */
export function executionProvider(env: NodeJS.ProcessEnv): ExecutionProviderSetting | undefined {
  const text = env.IMGPROMPT_EXECUTION_PROVIDER?.trim();
  if (!text) return undefined;
  if (!isExecutionProviderSetting(text)) throw new UsageError(`IMGPROMPT_EXECUTION_PROVIDER must be one of ${EXECUTION_PROVIDERS.join(', ')}, got '${text}'`);
  return text;
}

export function createService(env: NodeJS.ProcessEnv): Promise<RenderService> {
  return createRenderService({ cacheDir: cacheDir(env), threads: threads(env), memoryLimitBytes: memoryLimit(env), provenance: provenanceSettings(env), executionProvider: executionProvider(env) });
}

/** Plans one scene through the render service; scene problems come back as SceneError with every diagnostic. */
export async function planScene(service: RenderService, file: string, modelPaths: readonly string[], io: CliIO, signal: AbortSignal): Promise<RenderPlan> {
  const { file: _file, ...located } = sceneContext(file, modelPaths, io.cwd, io.env);
  const context = { ...located, maxMegapixels: maxMegapixels(io.env) };
  try {
    return await service.plan({ file, context }, signal, (p) => {
      if (p.component !== 'done') io.stderr(`${displayPath(file, io.cwd)}: converting the checkpoint it names: ${p.component} (${p.done + 1}/${p.total})\n`);
    });
  } catch (error) {
    if (error instanceof SceneError) throw new SceneError(displayPath(file, io.cwd), error.diagnostics);
    throw error;
  }
}

/** The plan's warnings as compiler-style lines. */
export function planWarnings(plan: RenderPlan, io: CliIO): string[] {
  return plan.warnings.map((d) => formatDiagnostic(displayPath(plan.file, io.cwd), d));
}

/**
 * The command's output with text from files (prompts, paths, messages quoting scenes or metadata)
 * escaped for the terminal: control characters and escape sequences print as visible text.
 */
export function terminalSafe(io: CliIO): CliIO {
  const safe = (s: string) => escapeTerminalText(s, { multiline: true });
  return { ...io, stdout: (s) => io.stdout(safe(s)), stderr: (s) => io.stderr(safe(s)) };
}

/** A one-line progress display: a bar redrawn in place on a terminal, nothing in logs (CI). */
export function progressLine(io: CliIO, label: string): { update(p: RenderProgress): void; done(): void } {
  if (!io.isTTY) return { update() {}, done() {} };
  label = escapeTerminalText(label);
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
