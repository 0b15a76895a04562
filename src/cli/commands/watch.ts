// `imgprompt watch`: re-renders a scene whenever it or any file it references (LoRAs, hint and init
// images) changes. One render at a time; a change during a render cancels it and starts again.
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import { CancelledError, OutputError, SceneError } from '../../engine/index';
import type { Command } from '../command';
import { createService, planScene, planWarnings, seconds, terminalSafe } from '../renderSupport';
import { displayPath, takeSceneOptions } from '../sceneContext';
import { expandSceneTargets, takeFlagsAndTargets } from '../sceneTargets';

const usage = `usage: imgprompt watch [options] FILE|DIR|GLOB...

Renders the scenes, then re-renders each one when it, or a LoRA or image it references, changes.
Stop with Ctrl+C.

options:
  --model-path DIR   a folder of model folders (repeatable; also IMGPROMPT_MODEL_PATH)`;

const DEBOUNCE_MS = 150;

export const watchCommand: Command = {
  name: 'watch',
  summary: 're-render scenes when they or the files they reference change',
  usage,
  async run(args, rawIO, signal) {
    const io = terminalSafe(rawIO);
    const { modelPaths, rest } = takeSceneOptions(args, io.cwd);
    const { targets } = takeFlagsAndTargets(rest, []);
    const { files, problems } = expandSceneTargets(targets, io.cwd);
    for (const p of problems) io.stderr(`${displayPath(p.target, io.cwd)}: error: ${p.message}\n`);
    if (files.length === 0) return 1;

    const service = await createService(io.env);
    const watcher: FSWatcher = chokidarWatch(files, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 10 } });
    /** Which scenes depend on each watched file. */
    const dependents = new Map<string, Set<string>>(files.map((f) => [f, new Set([f])]));
    const queue = new Set<string>(files);
    let current: { scene: string; controller: AbortController } | undefined;
    let timer: NodeJS.Timeout | undefined;

    const renderOne = async (scene: string, controller: AbortController) => {
      const shown = displayPath(scene, io.cwd);
      try {
        const plan = await planScene(service, scene, modelPaths, io, controller.signal);
        for (const w of planWarnings(plan, io)) io.stderr(`${w}\n`);
        const { recipe } = plan.resolved;
        for (const f of [...recipe.loras, ...recipe.control, ...(recipe.init ? [recipe.init] : []), ...(recipe.init?.mask ? [recipe.init.mask] : [])]) {
          if (!dependents.has(f.path)) {
            dependents.set(f.path, new Set());
            watcher.add(f.path);
          }
          dependents.get(f.path)?.add(scene);
        }
        await service.execute(plan, {
          signal: controller.signal,
          events: {
            onJobDone: (_index, outcome) => {
              const out = displayPath(outcome.job.output, io.cwd);
              if (outcome.action === 'skipped' || !outcome.render) io.stdout(`${out}: up to date\n`);
              else io.stdout(`${out}: rendered in ${seconds(outcome.render.timings.totalMs)}\n`);
            },
          },
        });
      } catch (error) {
        if (error instanceof CancelledError) {
          if (!signal.aborted) io.stdout(`${shown}: render cancelled (changed again)\n`);
        } else if (error instanceof SceneError) io.stderr(`${error.message}\n`);
        else if (error instanceof OutputError) io.stderr(`${displayPath(error.path, io.cwd)}: error: ${error.reason}\n`);
        else if (error instanceof Error) io.stderr(`${shown}: error: ${error.message}\n`);
      }
    };

    const pump = async (): Promise<void> => {
      if (current || signal.aborted) return;
      const next = queue.values().next();
      if (next.done) return;
      queue.delete(next.value);
      current = { scene: next.value, controller: new AbortController() };
      await renderOne(current.scene, current.controller);
      current = undefined;
      return pump();
    };

    const changed = (path: string) => {
      for (const scene of dependents.get(path) ?? []) {
        queue.add(scene);
        if (current?.scene === scene) current.controller.abort();
      }
      clearTimeout(timer);
      timer = setTimeout(() => void pump(), DEBOUNCE_MS);
    };
    watcher.on('change', changed).on('add', changed);
    // Ctrl+C or SIGTERM stops the render in flight too, so no figure is half-written when watch exits.
    signal.addEventListener('abort', () => current?.controller.abort(), { once: true });
    io.stdout(`watching ${files.length} scene${files.length === 1 ? '' : 's'}; Ctrl+C stops\n`);
    await pump();
    // The signal may have fired during the first renders: an abort event does not fire twice.
    if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    current?.controller.abort();
    clearTimeout(timer);
    await watcher.close();
    await service.dispose();
    return 0;
  },
};

