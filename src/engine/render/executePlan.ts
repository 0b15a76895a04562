// executePlan: RenderPlan → the figures. For each job that is not up to date (or every job, forced), a
// backend renders the pixels; here they become a PNG carrying the portable recipe and provenance, written
// atomically (a failed or cancelled render leaves the old file untouched), with any saved hints beside it.
import { CancelledError } from '../errors';
import type { RGBImage } from '../image/rgbImage';
import { encodePixelsToPng, encodePngWithMetadata } from '../output/encodePng';
import { writeFileAtomic } from '../output/writeFileAtomic';
import { markImage } from '../watermark/markImage';
import type { StageTimingReport } from './StageTimings';
import { hintOutputPath } from '../scene/outputPaths';
import type { Freshness } from './freshness';
import type { OutputProvenance } from './OutputProvenance';
import type { BackendRender, BackendRenderOptions, RenderBackend, RenderProgress } from './RenderBackend';
import type { PlannedJob, RenderPlan } from './planRender';
import type { RenderJob } from './renderJob';

/** A job rendered in memory: the backend's pixels and report, and the PNG bytes with provenance. */
export interface RenderedJob extends BackendRender {
  readonly job: RenderJob;
  readonly png: Buffer;
  readonly image: RGBImage;
  readonly timings: StageTimingReport;
}

export interface JobOutcome {
  readonly job: RenderJob;
  /** The output's state before this run. */
  readonly before: Freshness;
  /** `skipped`: up to date (and not forced); `rendered`: made (and written unless a dry run). */
  readonly action: 'skipped' | 'rendered';
  readonly render?: RenderedJob;
  /** Paths written: the PNG, then any saved hints. Empty for a skipped job or a dry run. */
  readonly written: readonly string[];
}

export interface ExecuteEvents {
  /** A job is about to render (not called for skipped jobs). */
  onJobStart?(index: number, job: RenderJob): void;
  onProgress?(index: number, count: number, progress: RenderProgress): void;
  onJobDone?(index: number, outcome: JobOutcome): void;
}

export interface ExecuteOptions extends Omit<BackendRenderOptions, 'onProgress'> {
  /** Render even up-to-date outputs. */
  readonly force?: boolean;
  /** Render in memory only; write nothing (verify --rerender, previews of unsaved edits). */
  readonly dryRun?: boolean;
  /** Also write each preprocessed hint beside the output (`figure.hint-1.png`). */
  readonly saveHints?: boolean;
  readonly events?: ExecuteEvents;
  /** Signs each figure (C2PA) and logs it; none: the PNG carries the recipe and XMP only. */
  readonly provenance?: OutputProvenance;
}

/** Renders one job in memory through `backend` and encodes its PNG with provenance. */
export async function renderJob(job: RenderJob, backend: RenderBackend, options: BackendRenderOptions = {}, provenance?: OutputProvenance): Promise<RenderedJob> {
  const rendered = await backend.render(job, options);
  const markStart = performance.now();
  // Every backend's pixels get the same marks, before encoding, so the PNG's bytes follow from the recipe.
  const image = markImage(rendered.image, job.metadata);
  const start = performance.now();
  const markMs = start - markStart;
  // A server's render carries where it was made (and the exact request) beside the recipe.
  if (rendered.provenance) job = { ...job, metadata: { ...job.metadata, backend: rendered.provenance } };
  const promptWriter = await provenance?.promptWriter(job);
  const encoded = await encodePngWithMetadata({ data: image.data, width: image.width, height: image.height, channels: 3 }, job.metadata, [], { promptWriter });
  const pngMs = performance.now() - start;
  const signed = provenance ? await provenance.sign(encoded, job, options.signal) : { png: encoded };
  const { png } = signed;
  const c2paMs = performance.now() - start - pngMs;
  const stages = { ...rendered.timings.stages, png: (rendered.timings.stages.png ?? 0) + pngMs, ...(markMs > 0 ? { watermark: markMs } : {}), ...(provenance ? { c2pa: c2paMs } : {}) };
  const timings = { ...rendered.timings, totalMs: rendered.timings.totalMs + pngMs + markMs + (provenance ? c2paMs : 0), stages };
  const warnings = signed.warning ? [...rendered.warnings, signed.warning] : rendered.warnings;
  return { ...rendered, image, job, png, timings, warnings };
}

/**
 * Writes the PNG (and any saved hints). A write the OS refuses (read-only folder, full disk, a file where a
 * folder should be) is an OutputError naming the file and the reason: the figure failed, the engine did not.
 */
async function writeOutputs(rendered: RenderedJob, options: ExecuteOptions): Promise<{ written: string[]; ms: number }> {
  const start = performance.now();
  const written: string[] = [];
  if (options.saveHints) {
    for (const [i, hint] of rendered.hints.entries()) {
      const path = hintOutputPath(rendered.job.output, i + 1);
      await writeFileAtomic(path, await encodePixelsToPng({ ...hint.image, channels: 3 }), { signal: options.signal, label: 'the hint image' });
      written.push(path);
    }
  }
  await writeFileAtomic(rendered.job.output, rendered.png, { signal: options.signal, label: 'the figure' });
  written.unshift(rendered.job.output);
  return { written, ms: performance.now() - start };
}

/** Renders (and unless a dry run writes) every job of the plan that needs it, in order. */
export async function executePlan(plan: Pick<RenderPlan, 'jobs' | 'projectRoot'>, backend: RenderBackend, options: ExecuteOptions = {}): Promise<JobOutcome[]> {
  const outcomes: JobOutcome[] = [];
  const { events } = options;
  for (const [index, planned] of plan.jobs.entries()) {
    const outcome = await executeJob(index, planned, plan.jobs.length, backend, options, plan.projectRoot);
    outcomes.push(outcome);
    events?.onJobDone?.(index, outcome);
  }
  return outcomes;
}

async function executeJob(index: number, planned: PlannedJob, count: number, backend: RenderBackend, options: ExecuteOptions, projectRoot: string | undefined): Promise<JobOutcome> {
  const { job, freshness } = planned;
  if (!options.force && !options.dryRun && freshness.state === 'up-to-date') return { job, before: freshness, action: 'skipped', written: [] };
  options.events?.onJobStart?.(index, job);
  const onProgress = options.events?.onProgress ? (p: RenderProgress) => options.events?.onProgress?.(index, count, p) : undefined;
  const rendered = await renderJob(job, backend, { signal: options.signal, previews: options.previews, onStepLatents: options.onStepLatents, onProgress }, options.provenance);
  if (options.dryRun) return { job, before: freshness, action: 'rendered', render: rendered, written: [] };
  onProgress?.({ phase: 'write', step: job.recipe.steps, total: job.recipe.steps });
  if (options.signal?.aborted) throw new CancelledError();
  const { written, ms } = await writeOutputs(rendered, options);
  await options.provenance?.written(job, rendered.png, projectRoot);
  const timings = { ...rendered.timings, stages: { ...rendered.timings.stages, write: ms } };
  return { job, before: freshness, action: 'rendered', render: { ...rendered, timings }, written };
}
