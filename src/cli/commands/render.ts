// `imgprompt render`: renders scenes whose outputs are missing or stale (all with --force), writing each
// PNG atomically with its recipe and provenance.
import { CancelledError, OutputError, SceneError, type RenderService } from '../../engine/index';
import type { Command } from '../command';
import { createService, planScene, planWarnings, progressLine, seconds, terminalSafe } from '../renderSupport';
import { join } from 'node:path';
import { shardFiles } from '../../engine/index';
import { renderOverPool, SceneBackends, takePoolOptions } from '../renderPooled';
import { displayPath, findProjectRoot, takeSceneOptions } from '../sceneContext';
import { expandSceneTargets, takeFlagsAndTargets } from '../sceneTargets';
import { pullSceneFile } from '../hubSupport';

const usage = `usage: imgprompt render [options] FILE|DIR|GLOB...

Renders each scene's figure (and its variants) beside the scene, unless the PNG already carries the
scene's current recipe hash. Folders are searched recursively for *.imgprompt; quote globs.

options:
  --force            render even when the output is up to date
  --save-hints       also write each preprocessed hint image beside the output (figure.hint-1.png)
  --model-path DIR   a folder of model folders (repeatable; also IMGPROMPT_MODEL_PATH)
  --locked           use imgprompt.lock as it is: fail when a hf: model is not in it or would
                     resolve to another commit (for CI); without it new references are added
  --backend LIST     render over a pool: comma-separated servers named in imgprompt.backends.json,
                     comfyui+http://host:port, a1111+http://host:port, or local (this machine)
  --retries N        further tries of a figure after a server failure (default 2; with --backend)
  --shard i/n        render only the i-th of n deterministic shares of the scenes (CI matrix jobs)

Models named hf:org/name[@revision][/file] are downloaded first into the Hugging Face cache
(HF_HUB_CACHE or HF_HOME; HF_TOKEN for gated models; HF_HUB_OFFLINE=1 for no network).

environment: IMGPROMPT_THREADS (onnxruntime threads), IMGPROMPT_CACHE_DIR (file-hash cache),
IMGPROMPT_MEMORY_LIMIT (most memory loaded models may take, e.g. 6GB)`;

export const renderCommand: Command = {
  name: 'render',
  summary: 'render scenes whose figures are missing or out of date',
  usage,
  async run(args, rawIO, signal) {
    const io = terminalSafe(rawIO);
    const pool = takePoolOptions(args);
    const { modelPaths, rest } = takeSceneOptions(pool.rest, io.cwd);
    const { flags, targets } = takeFlagsAndTargets(rest, ['--force', '--save-hints', '--locked']);
    const force = flags.has('--force');
    const saveHints = flags.has('--save-hints');
    const expanded = expandSceneTargets(targets, io.cwd);
    const { problems } = expanded;
    const files = pool.shard ? shardFiles(expanded.files, findProjectRoot(join(io.cwd, 'scene')), pool.shard) : expanded.files;
    for (const p of problems) io.stderr(`${displayPath(p.target, io.cwd)}: error: ${p.message}\n`);
    let failed = problems.length;
    let service: RenderService | undefined;
    let sceneBackends: SceneBackends | undefined;
    try {
      service = await createService(io.env);
      if (pool.backends) return (await renderOverPool(service, files, modelPaths, io, { force, saveHints, retries: pool.retries, backends: pool.backends }, signal)) + failed > 0 ? 1 : 0;
      for (const file of files) {
        const shown = displayPath(file, io.cwd);
        try {
          await pullSceneFile(file, rawIO, signal, flags.has('--locked'));
          const plan = await planScene(service, file, modelPaths, io, signal);
          for (const w of planWarnings(plan, io)) io.stderr(`${w}\n`);
          let bar: ReturnType<typeof progressLine> | undefined;
          // A scene naming a render server (`backend:`) renders there.
          const named = plan.jobs[0]?.job.recipe.backend;
          await service.execute(plan, {
            backend: named === undefined ? undefined : (sceneBackends ??= new SceneBackends(findProjectRoot(file), service)).get(named),
            signal,
            force,
            saveHints,
            events: {
              onJobStart: (_index, job) => (bar = progressLine(rawIO, displayPath(job.output, io.cwd))),
              onProgress: (_index, _count, progress) => bar?.update(progress),
              onJobDone: (_index, outcome) => {
                bar?.done();
                bar = undefined;
                const out = displayPath(outcome.job.output, io.cwd);
                const r = outcome.render;
                if (outcome.action === 'skipped' || !r) return io.stdout(`${out}: up to date\n`);
                for (const w of r.warnings) io.stderr(`${shown}: warning: ${w}\n`);
                const { recipe } = outcome.job;
                io.stdout(`${out}: rendered ${recipe.width}x${recipe.height}, ${recipe.steps} steps in ${seconds(r.timings.totalMs)}\n`);
                for (const l of r.loras) io.stdout(`  LoRA ${l.file} × ${l.weight}: ${l.matched} of ${l.total} modules applied\n`);
                for (const path of outcome.written.slice(1)) io.stdout(`  hint ${displayPath(path, io.cwd)}\n`);
              },
            },
          });
        } catch (error) {
          if (error instanceof CancelledError) throw error;
          failed++;
          if (error instanceof SceneError) io.stderr(`${error.message}\n`);
          else if (error instanceof OutputError) io.stderr(`${displayPath(error.path, io.cwd)}: error: ${error.reason}\n`);
          else if (error instanceof Error && ['ModelError', 'InputError', 'LockfileError', 'BackendRequestError', 'BackendUnavailableError'].includes(error.name)) io.stderr(`${shown}: error: ${error.message}\n`);
          else throw error;
        }
      }
    } finally {
      await sceneBackends?.dispose();
      await service?.dispose();
    }
    return failed > 0 ? 1 : 0;
  },
};
