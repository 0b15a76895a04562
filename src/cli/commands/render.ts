// `imgprompt render`: renders scenes whose outputs are missing or stale (all with --force), writing each
// PNG atomically with its recipe and provenance.
import { CancelledError, SceneError, hintOutputPath, type Engine } from '../../engine/index';
import type { Command } from '../command';
import { createEngine, planScene, progressLine, seconds } from '../renderSupport';
import { displayPath, takeSceneOptions } from '../sceneContext';
import { expandSceneTargets, takeFlagsAndTargets } from '../sceneTargets';

const usage = `usage: imgprompt render [options] FILE|DIR|GLOB...

Renders each scene's figure (and its variants) beside the scene, unless the PNG already carries the
scene's current recipe hash. Folders are searched recursively for *.imgprompt; quote globs.

options:
  --force            render even when the output is up to date
  --save-hints       also write each preprocessed hint image beside the output (figure.hint-1.png)
  --model-path DIR   a folder of model folders (repeatable; also IMGPROMPT_MODEL_PATH)

environment: IMGPROMPT_THREADS (onnxruntime threads), IMGPROMPT_CACHE_DIR (file-hash cache),
IMGPROMPT_MEMORY_LIMIT (most memory loaded models may take, e.g. 6GB)`;

export const renderCommand: Command = {
  name: 'render',
  summary: 'render scenes whose figures are missing or out of date',
  usage,
  async run(args, io, signal) {
    const { modelPaths, rest } = takeSceneOptions(args, io.cwd);
    const { flags, targets } = takeFlagsAndTargets(rest, ['--force', '--save-hints']);
    const force = flags.has('--force');
    const saveHints = flags.has('--save-hints');
    const { files, problems } = expandSceneTargets(targets, io.cwd);
    for (const p of problems) io.stderr(`${displayPath(p.target, io.cwd)}: error: ${p.message}\n`);
    let failed = problems.length;
    let engine: Engine | undefined;
    try {
      engine = await createEngine(io.env);
      for (const file of files) {
        const shown = displayPath(file, io.cwd);
        try {
          const planned = await planScene(engine, file, modelPaths, io, signal);
          for (const w of planned.warnings) io.stderr(`${w}\n`);
          for (const job of planned.jobs) {
            const out = displayPath(job.output, io.cwd);
            if (!force && (await engine.status(job)).state === 'up-to-date') {
              io.stdout(`${out}: up to date\n`);
              continue;
            }
            const bar = progressLine(io, out);
            const result = await engine.renderToFile(job, { signal, onProgress: bar.update, saveHints });
            bar.done();
            for (const w of result.warnings) io.stderr(`${shown}: warning: ${w}\n`);
            io.stdout(`${out}: rendered ${job.recipe.width}x${job.recipe.height}, ${job.recipe.steps} steps in ${seconds(result.timings.totalMs)}\n`);
            for (const l of result.loras) io.stdout(`  LoRA ${l.file} × ${l.weight}: ${l.matched} of ${l.total} modules applied\n`);
            if (saveHints) for (const i of result.hints.keys()) io.stdout(`  hint ${displayPath(hintOutputPath(job.output, i + 1), io.cwd)}\n`);
          }
        } catch (error) {
          if (error instanceof CancelledError) throw error;
          failed++;
          if (error instanceof SceneError) io.stderr(`${error.message}\n`);
          else if (error instanceof Error && (error.name === 'ModelError' || error.name === 'InputError')) io.stderr(`${shown}: error: ${error.message}\n`);
          else throw error;
        }
      }
    } finally {
      await engine?.dispose();
    }
    return failed > 0 ? 1 : 0;
  },
};
