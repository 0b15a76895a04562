// Entry of the engine's render process (bundled as out/worker.js, started with child_process.fork): owns
// one render service and its caches, renders one request at a time, and reports progress. A separate
// process, not a worker thread, so that a native crash or running out of memory inside onnxruntime can
// never take the caller (the VS Code extension host) down with it; terminating a worker thread mid-run can
// abort the whole process. Cancellation arrives as a message: onnxruntime runs off the event loop, so the
// message is handled during a UNet call and the loop stops before the next step.
import { ProjectBackends } from '../backends/projectBackends';
import { createRenderService } from '../createRenderService';
import { CancelledError } from '../errors';
import { projectHubLookup } from '../scene/sceneHubRefs';
import type { EngineOptions } from '../options';
import type { RenderService } from '../render/RenderService';
import { READ_CAPS, readFileBounded } from '../io/readBounded';
import { readC2pa } from '../provenance/readC2pa';
import { readWatermarkFile } from '../watermark/readWatermark';
import type { FromWorker, SerializedError, ToWorker, WorkerJobResult, WorkerRenderRequest, WorkerRenderResult } from './protocol';

if (!process.send) throw new Error('the render worker must be started with child_process.fork');
const port = {
  postMessage: (message: FromWorker) => process.send?.(message),
  on: (event: 'message', listener: (message: ToWorker) => void) => process.on(event, listener),
};
// The caller went away (closed, crashed): nothing is left to render for.
process.on('disconnect', () => process.exit(0));

let engineOptions: EngineOptions = {};
let service: Promise<RenderService> | undefined;
const running = new Map<number, AbortController>();
let queue: Promise<void> = Promise.resolve();
const projectBackends = new ProjectBackends();

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
  service ??= createRenderService(engineOptions);
  const s = await service;
  const { scene } = request;
  const plan = await s.plan(
    {
      file: scene.file,
      text: request.text,
      context: {
        projectRoot: scene.projectRoot,
        modelSearchPaths: scene.modelSearchPaths,
        builtinModelsDir: scene.builtinModelsDir,
        hub: scene.hubCacheDir ? projectHubLookup(scene.hubCacheDir, scene.projectRoot, scene.civitaiDir) : undefined,
        outputPattern: request.outputPattern,
        defaultAudience: request.defaultAudience,
        defaultLabel: request.defaultLabel,
        workspaceFolder: request.workspaceFolder,
      },
    },
    signal,
    (p) => post({ type: 'progress', id, job: 0, jobs: 1, progress: { phase: 'convert', step: p.done, total: p.total } }),
  );
  const jobs: WorkerJobResult[] = [];
  const checked = (planned: (typeof plan.jobs)[number]): WorkerJobResult => {
    const { job, freshness } = planned;
    const changes = freshness.changes?.map((c) => c.field);
    return { output: job.output, hash: job.hash, state: freshness.state, previousState: freshness.state, reason: freshness.reason, changes, metadata: job.metadata, warnings: [] };
  };
  if (request.checkOnly) return { jobs: plan.jobs.map(checked), diagnostics: plan.warnings };
  // A scene naming a render server (`backend:`) renders there; requests leave from this process.
  const named = plan.jobs[0]?.job.recipe.backend;
  const outcomes = await s.execute(plan, {
    backend: named === undefined ? undefined : projectBackends.get(scene.projectRoot, named),
    signal,
    force: request.force,
    dryRun: request.dryRun,
    previews: request.previews,
    saveHints: request.saveHints,
    events: { onProgress: (job, count, progress) => post({ type: 'progress', id, job, jobs: count, progress }) },
  });
  for (const [index, outcome] of outcomes.entries()) {
    if (outcome.action === 'skipped' || !outcome.render) {
      jobs.push(checked(plan.jobs[index]));
      continue;
    }
    const { job, before, render: r } = outcome;
    jobs.push({ output: job.output, hash: job.hash, state: 'rendered', previousState: before.state, reason: before.reason, metadata: r.job.metadata, timings: r.timings, warnings: r.warnings, loras: r.loras });
  }
  return { jobs, diagnostics: plan.warnings };
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'configure': {
      const { type: _type, ...options } = message;
      engineOptions = options;
      if (service) {
        const old = service;
        service = undefined;
        void old.then((s) => s.dispose());
      }
      return;
    }
    case 'cancel':
      running.get(message.id)?.abort();
      return;
    case 'readC2pa': {
      // Not queued behind renders: a read is milliseconds and needs no session.
      const { id, file, trustAnchorsPem } = message;
      void readFileBounded(file, READ_CAPS.image, 'image')
        .then((bytes) => readC2pa(bytes, /\.jpe?g$/i.test(file) ? 'image/jpeg' : /\.webp$/i.test(file) ? 'image/webp' : 'image/png', { trustAnchorsPem }))
        .then((report) => post({ type: 'c2pa', id, report }))
        .catch((error: unknown) => post({ type: 'error', id, error: serialize(error) }));
      return;
    }
    case 'detectWatermark': {
      // Not queued behind renders either: onnxruntime runs off this event loop, so a search interleaves.
      const { id, file } = message;
      void readWatermarkFile(file)
        .then(({ detected, payload, confidence }) => post({ type: 'watermark', id, detection: { detected, payload, confidence } }))
        .catch((error: unknown) => post({ type: 'error', id, error: serialize(error) }));
      return;
    }
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
