// The model folder the engine suites render with: the embedded tiny-shapes model, or another export in
// the same layout named by IMGPROMPT_TEST_MODEL_DIR (e.g. a real Stable Diffusion 1.5 ONNX export).
import { cpSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { jobsForScene, judgeFreshness, LocalOnnxBackend, type ExecuteOptions, type RenderedJob, type RenderJob, type RenderProgress, type RenderService, type ResolvedScene } from '../../src/engine/index';

export const repoRoot = resolve(__dirname, '..', '..');
export const modelDir = process.env.IMGPROMPT_TEST_MODEL_DIR ? resolve(process.env.IMGPROMPT_TEST_MODEL_DIR) : join(repoRoot, 'models', 'tiny-shapes');
export const modelName = basename(modelDir);

/** A throwaway project folder (with .git, so it is a project root) holding scenes; removed by cleanup(). */
export function tempProject(): { dir: string; write(name: string, text: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-engine-'));
  mkdirSync(join(dir, '.git'));
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A copy of the model folder inside `dir`, for tests that damage it. */
export function copyModel(dir: string): string {
  const target = join(dir, 'models', modelName);
  cpSync(modelDir, target, { recursive: true });
  return target;
}

/** The jobs of a resolved scene, as planRender makes them. */
export function jobsOf(service: RenderService, resolved: ResolvedScene, projectRoot: string): Promise<RenderJob[]> {
  return jobsForScene(resolved, projectRoot, service.hashes, service.backend.runtimeVersion);
}

/** Renders one job through executePlan (forced) and writes it; the rendered job as executePlan reports it. */
export async function renderToFile(service: RenderService, job: RenderJob, options: ExecuteOptions & { onProgress?: (p: RenderProgress) => void } = {}): Promise<RenderedJob> {
  const { onProgress, ...rest } = options;
  const events = onProgress ? { onProgress: (_i: number, _n: number, p: RenderProgress) => onProgress(p) } : undefined;
  const [outcome] = await service.execute({ jobs: [{ job, freshness: await judgeFreshness(job) }] }, { force: true, events, ...rest });
  if (!outcome.render) throw new Error('executePlan skipped a forced job');
  return outcome.render;
}

/** The local backend behind a service made by createRenderService (for its session-cache statistics). */
export function localBackend(service: RenderService): LocalOnnxBackend {
  if (!(service.backend instanceof LocalOnnxBackend)) throw new Error('not the local backend');
  return service.backend;
}
