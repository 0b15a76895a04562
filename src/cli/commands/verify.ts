// `imgprompt verify`: checks that every figure is up to date with its scene (for CI): lists each missing
// or stale PNG and which inputs changed; with --rerender also renders in memory and compares pixels.
import sharp from 'sharp';
import { CancelledError, describeChange, SceneError, type RenderJob, type RenderService } from '../../engine/index';
import type { Command, CliIO } from '../command';
import { createService, planScene, terminalSafe } from '../renderSupport';
import { READ_CAPS, readFileBounded } from '../../engine/io/readBounded';
import { c2paReportOf } from '../c2paSupport';
import { displayPath, takeSceneOptions } from '../sceneContext';
import { expandSceneTargets, takeFlagsAndTargets } from '../sceneTargets';
import { pullSceneFile } from '../hubSupport';
import { DISCLOSURE_USAGE, reportFigureReferences, takeDisclosureOptions } from '../disclosureOptions';

const usage = `usage: imgprompt verify [options] FILE|DIR|GLOB...

Exits 1 when any scene's figure is missing or stale (its PNG does not carry the scene's current recipe
hash), naming the inputs that changed: prompt, seed, model hash, LoRA hash, engine version...

Each up-to-date figure's C2PA manifest must be intact (every check of the reference implementation
passes) and state the scene's current recipe hash; a figure without a manifest is noted, and is a
problem with --require-c2pa.

options:
  --rerender         also render each up-to-date figure in memory and compare its pixels with the file
  --model-path DIR   a folder of model folders (repeatable; also IMGPROMPT_MODEL_PATH)
  --locked           download hf:/Civitai models only as imgprompt.lock pins them (for CI)
  --require-c2pa     a figure without a C2PA manifest is a problem
${DISCLOSURE_USAGE}`;

/** Checks the figure's C2PA manifest: intact and stating this job's recipe hash. Undefined when fine. */
async function checkManifest(job: RenderJob, io: CliIO, requireC2pa: boolean): Promise<{ problem?: string; note?: string }> {
  const out = displayPath(job.output, io.cwd);
  const report = await c2paReportOf(await readFileBounded(job.output, READ_CAPS.image, 'PNG'), job.output, io.env);
  if (report.state === 'absent') return requireC2pa ? { problem: `${out}: no C2PA manifest (render it again to sign it)` } : { note: `${out}: note: no C2PA manifest` };
  if (report.state === 'invalid' || report.state === 'unreadable') return { problem: `${out}: C2PA ${report.summary}` };
  const signed = (report.recipe as { hash?: unknown } | undefined)?.hash;
  if (signed !== job.hash) return { problem: `${out}: the C2PA manifest states recipe ${String(signed)}, not the scene's ${job.hash}` };
  return {};
}

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
    const { flags, targets } = takeFlagsAndTargets(rest, ['--rerender', '--locked', '--require-c2pa']);
    const rerender = flags.has('--rerender');
    const { files, problems } = expandSceneTargets(targets, io.cwd);
    for (const p of problems) io.stderr(`${displayPath(p.target, io.cwd)}: error: ${p.message}\n`);
    let bad = problems.length;
    let good = 0;
    const service = await createService(io.env);
    try {
      for (const file of files) {
        try {
          // A figure's recipe hash covers its model's bytes: a fresh CI machine fetches them first.
          await pullSceneFile(file, rawIO, signal, flags.has('--locked'));
          const plan = await planScene(service, file, modelPaths, io, signal);
          if (disclosure.options.requirePurpose && plan.jobs[0] && plan.jobs[0].job.recipe.purpose === null) {
            io.stdout(`${displayPath(file, io.cwd)}: warning: the scene has no purpose: line (why the figure exists); the project requires one\n`);
          }
          for (const { job, freshness: status } of plan.jobs) {
            let manifest: { problem?: string; note?: string } = {};
            const out = displayPath(job.output, io.cwd);
            if (status.state === 'missing') {
              bad++;
              io.stdout(`${out}: missing (render ${displayPath(file, io.cwd)})\n`);
            } else if (status.state === 'stale') {
              bad++;
              const changes = status.changes ?? [];
              const why = changes.length > 0 ? changes.map((c) => `\n  ${describeChange(c)}`).join('') : ' (its stored recipe is unreadable or was not written by imgprompt)';
              io.stdout(`${out}: stale${why}\n`);
            } else if ((manifest = await checkManifest(job, io, flags.has('--require-c2pa'))).problem) {
              bad++;
              io.stdout(`${manifest.problem}\n`);
            } else if (status.remote) {
              // A server's figure reproduces from its recipe on that server, not byte for byte here.
              good++;
              const { api, server, version } = status.remote;
              io.stdout(`${out}: up to date; recipe-reproducible (rendered on ${server}, ${api} ${version}; not byte-identical: pixels depend on the server's device and version)\n`);
            } else if (rerender) {
              if (manifest.note) io.stderr(`${manifest.note}\n`);
              const problem = await comparePixels(service, job, io, signal);
              if (problem) {
                bad++;
                io.stdout(`${problem}\n`);
              } else {
                good++;
                io.stdout(`${out}: up to date; re-render is pixel-identical\n`);
              }
            } else {
              if (manifest.note) io.stderr(`${manifest.note}\n`);
              good++;
            }
          }
        } catch (error) {
          if (error instanceof CancelledError) throw error;
          bad++;
          if (error instanceof SceneError) io.stderr(`${error.message}\n`);
          else if (error instanceof Error && (error.name === 'ModelError' || error.name === 'InputError' || error.name === 'LockfileError')) io.stderr(`${displayPath(file, io.cwd)}: error: ${error.message}\n`);
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
