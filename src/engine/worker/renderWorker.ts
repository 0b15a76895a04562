// Entry of the engine's render process (bundled as out/worker.js, started with child_process.fork): owns
// one Engine and its caches, renders one request at a time, and reports progress. A separate process,
// not a worker thread, so that a native crash or running out of memory inside onnxruntime can never take
// the caller (the VS Code extension host) down with it; terminating a worker thread mid-run can abort
// the whole process. Cancellation arrives as a message: onnxruntime runs off the event loop, so the
// message is handled during a UNet call and the loop stops before the next step.
import { readFile } from 'node:fs/promises';
import { CancelledError } from '../errors';
import { Engine, type RenderProgress } from '../pipeline';
import { ModelConfigCache } from '../model/modelConfig';
import { resolveScene } from '../scene';
import type { FromWorker, SerializedError, ToWorker, WorkerJobResult, WorkerRenderRequest, WorkerRenderResult } from './protocol';

if (!process.send) throw new Error('the render worker must be started with child_process.fork');
const port = {
  postMessage: (message: FromWorker) => process.send?.(message),
  on: (event: 'message', listener: (message: ToWorker) => void) => process.on(event, listener),
};
// The caller went away (closed, crashed): nothing is left to render for.
process.on('disconnect', () => process.exit(0));

let engineOptions: { threads?: number; cacheDir?: string; memoryLimitBytes?: number } = {};
let engine: Promise<Engine> | undefined;
const modelConfigs = new ModelConfigCache();
const running = new Map<number, AbortController>();
let queue: Promise<void> = Promise.resolve();

function post(message: FromWorker): void {
  port.postMessage(message);
}

function serialize(error: unknown): SerializedError {
  if (error instanceof Error) {
    const e = error as Error & { path?: string; file?: string; diagnostics?: SerializedError['diagnostics'] };
    return { name: e.name, message: e.message, path: e.path, file: e.file, diagnostics: e.diagnostics };
  }
  return { name: 'Error', message: String(error) };
}

async function render(id: number, request: WorkerRenderRequest, signal: AbortSignal): Promise<WorkerRenderResult> {
  engine ??= Engine.create(engineOptions);
  const e = await engine;
  const text = request.text ?? (await readFile(request.scene.file, 'utf8'));
  const resolved = resolveScene(text, {
    file: request.scene.file,
    projectRoot: request.scene.projectRoot,
    modelSearchPaths: request.scene.modelSearchPaths,
    builtinModelsDir: request.scene.builtinModelsDir,
    loadModelConfig: (dir) => modelConfigs.load(dir),
    defaultOutput: request.defaultOutput,
  });
  const jobs = await e.plan(resolved, request.scene.projectRoot, signal);
  const results: WorkerJobResult[] = [];
  for (const [index, job] of jobs.entries()) {
    const status = await e.status(job);
    if (request.checkOnly || (!request.force && !request.dryRun && status.state === 'up-to-date')) {
      const changes = status.changes?.map((c) => c.field);
      results.push({ output: job.output, hash: job.hash, state: status.state, previousState: status.state, changes, metadata: job.metadata, warnings: [] });
      continue;
    }
    const options = {
      signal,
      previews: request.previews,
      saveHints: request.saveHints,
      onProgress: (progress: RenderProgress) =>
        post({ type: 'progress', id, job: index, jobs: jobs.length, progress }),
    };
    const result = request.dryRun ? await e.render(job, options) : await e.renderToFile(job, options);
    results.push({ output: job.output, hash: job.hash, state: 'rendered', previousState: status.state, metadata: job.metadata, timings: result.timings, warnings: result.warnings, loras: result.loras });
  }
  return { jobs: results, diagnostics: resolved.diagnostics };
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'configure':
      engineOptions = { threads: message.threads, cacheDir: message.cacheDir, memoryLimitBytes: message.memoryLimitBytes };
      if (engine) {
        const old = engine;
        engine = undefined;
        void old.then((e) => e.dispose());
      }
      return;
    case 'cancel':
      running.get(message.id)?.abort();
      return;
    case 'render': {
      const controller = new AbortController();
      running.set(message.id, controller);
      // One render at a time: the work is CPU-bound and shares one session cache.
      queue = queue.then(async () => {
        try {
          if (controller.signal.aborted) throw new CancelledError();
          const result = await render(message.id, message.request, controller.signal);
          post({ type: 'done', id: message.id, result });
        } catch (error) {
          post({ type: 'error', id: message.id, error: serialize(error) });
        } finally {
          running.delete(message.id);
        }
      });
      return;
    }
  }
});
