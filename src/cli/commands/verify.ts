// `imgprompt verify`: checks that every figure is up to date with its scene (for CI): lists each missing
// or stale PNG and which inputs changed; with --rerender also renders in memory and compares pixels.
import sharp from 'sharp';
import { CancelledError, describeChange, SceneError, type RenderJob, type RenderService } from '../../engine/index';
import type { Command, CliIO } from '../command';
import { createService, planScene, terminalSafe } from '../renderSupport';
import { displayPath, takeSceneOptions } from '../sceneContext';
import { expandSceneTargets, takeFlagsAndTargets } from '../sceneTargets';
import { DISCLOSURE_USAGE, reportFigureReferences, takeDisclosureOptions } from '../disclosureOptions';

const usage = `usage: imgprompt verify [options] FILE|DIR|GLOB...

Exits 1 when any scene's figure is missing or stale (its PNG does not carry the scene's current recipe
hash), naming the inputs that changed: prompt, seed, model hash, LoRA hash, engine version...

options:
  --rerender         also render each up-to-date figure in memory and compare its pixels with the file
  --model-path DIR   a folder of model folders (repeatable; also IMGPROMPT_MODEL_PATH)
${DISCLOSURE_USAGE}`;

/** Compares a fresh in-memory render with the pixels in the file. */
async function comparePixels(service: RenderService, job: RenderJob, io: CliIO, signal: AbortSignal): Promise<string | undefined> {
  const result = await service.render(job, { signal });
  const { data, info } = await sharp(job.output).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const out = displayPath(job.output, io.cwd);
  if (info.width !== result.image.width || info.height !== result.image.height) {
    return `${out}: re-render is ${result.image.width}x${result.image.height} but the file is ${info.width}x${info.height}`;
  }
  let differing = 0;
  let maxDiff = 0;
  for (let i = 0; i < data.length; i += 3) {
    const d = Math.max(Math.abs(data[i] - result.image.data[i]), Math.abs(data[i + 1] - result.image.data[i + 1]), Math.abs(data[i + 2] - result.image.data[i + 2]));
    if (d > 0) differing++;
    maxDiff = Math.max(maxDiff, d);
  }
  if (differing === 0) return undefined;
  const pct = ((differing / (data.length / 3)) * 100).toFixed(2);
  return `${out}: re-render differs in ${pct}% of pixels (max difference ${maxDiff}/255); this machine does not reproduce the file bit for bit`;
}

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'exit 1 if any figure is missing or stale, naming what changed',
  usage,
  async run(args, rawIO, signal) {
    const io = terminalSafe(rawIO);
    const disclosure = takeDisclosureOptions(args);
    const { modelPaths, rest } = takeSceneOptions(disclosure.rest, io.cwd);
    const { flags, targets } = takeFlagsAndTargets(rest, ['--rerender']);
    const rerender = flags.has('--rerender');
    const { files, problems } = expandSceneTargets(targets, io.cwd);
    for (const p of problems) io.stderr(`${displayPath(p.target, io.cwd)}: error: ${p.message}\n`);
    let bad = problems.length;
    let good = 0;
    const service = await createService(io.env);
    try {
      for (const file of files) {
        try {
          const plan = await planScene(service, file, modelPaths, io, signal);
          if (disclosure.options.requirePurpose && plan.jobs[0] && plan.jobs[0].job.recipe.purpose === null) {
            io.stdout(`${displayPath(file, io.cwd)}: warning: the scene has no purpose: line (why the figure exists); the project requires one\n`);
          }
          for (const { job, freshness: status } of plan.jobs) {
            const out = displayPath(job.output, io.cwd);
            if (status.state === 'missing') {
              bad++;
              io.stdout(`${out}: missing (render ${displayPath(file, io.cwd)})\n`);
            } else if (status.state === 'stale') {
              bad++;
              const changes = status.changes ?? [];
              const why = changes.length > 0 ? changes.map((c) => `\n  ${describeChange(c)}`).join('') : ' (its stored recipe is unreadable or was not written by imgprompt)';
              io.stdout(`${out}: stale${why}\n`);
            } else if (rerender) {
              const problem = await comparePixels(service, job, io, signal);
              if (problem) {
                bad++;
                io.stdout(`${problem}\n`);
              } else {
                good++;
                io.stdout(`${out}: up to date; re-render is pixel-identical\n`);
              }
            } else good++;
          }
        } catch (error) {
          if (error instanceof CancelledError) throw error;
          bad++;
          if (error instanceof SceneError) io.stderr(`${error.message}\n`);
          else if (error instanceof Error && (error.name === 'ModelError' || error.name === 'InputError')) io.stderr(`${displayPath(file, io.cwd)}: error: ${error.message}\n`);
          else throw error;
        }
      }
    } finally {
      await service.dispose();
    }
    const uses = await reportFigureReferences(disclosure.options, io.cwd, io);
    io.stderr(`verified ${good + bad} figure${good + bad === 1 ? '' : 's'}: ${good} up to date, ${bad} with problems\n`);
    if (uses.problems.length > 0) io.stderr(`figure references: ${uses.errors} error${uses.errors === 1 ? '' : 's'}, ${uses.warnings} warning${uses.warnings === 1 ? '' : 's'}\n`);
    return bad > 0 || uses.errors > 0 ? 1 : 0;
  },
};
