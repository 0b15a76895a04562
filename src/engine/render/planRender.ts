// planRender: a scene file (or an editor's unsaved text) → RenderPlan. Reads and parses the scene once,
// resolves it against its model, hashes what it uses into each job's identity, names each output path
// (scene/outputPaths.ts) and judges each output's freshness (freshness.ts). Nothing is rendered here,
// but a single-file checkpoint the scene names is converted first when it never was.
import { SceneError, type SceneDiagnostic } from '../errors';
import type { FileHashCache } from '../hash/fileHashCache';
import { READ_CAPS, readFileBounded } from '../io/readBounded';
import { ensureConvertedCheckpoint } from '../checkpoint/convertedCheckpoints';
import type { ConvertProgress } from '../checkpoint/convert/convertCheckpoint';
import { analyzeScene, checkParsedScene, hasErrors, parseScene, type ResolveContext, type ResolvedScene } from '../scene';
import { licenceDiagnostics } from '../licence/licenceDiagnostics';
import { judgeFreshness, type Freshness } from './freshness';
import { jobsForScene, type RenderJob } from './renderJob';

/** A scene to plan: its file, optionally the editor's text of it, and where it sits. */
export interface PlanRequest {
  /** Absolute path of the .imgprompt file. */
  readonly file: string;
  /** The scene's text (an editor's buffer); read from `file` when absent. */
  readonly text?: string;
  readonly context: Omit<ResolveContext, 'file'>;
}

export interface PlannedJob {
  readonly job: RenderJob;
  /** The output's state before anything is rendered. */
  readonly freshness: Freshness;
}

export interface RenderPlan {
  readonly file: string;
  readonly resolved: ResolvedScene;
  /** The main output, then one job per variant seed. */
  readonly jobs: readonly PlannedJob[];
  /** Warnings from resolving the scene (errors throw SceneError instead), and licence findings (licence/). */
  readonly warnings: readonly SceneDiagnostic[];
  /** The project the scene belongs to (where the prompt log lives). */
  readonly projectRoot?: string;
}

export interface PlanServices {
  readonly hashes: FileHashCache;
  /** Recorded in each portable recipe as the runtime that renders it. */
  readonly runtimeVersion: string;
  /** Reports the conversion of a single-file checkpoint the scene names (the first render of it only). */
  readonly onConvert?: (progress: ConvertProgress) => void;
}

const AT_START = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

/** The scene's text: as given, or read from disk (a regular file under the scene cap). */
async function sceneText(request: PlanRequest): Promise<string> {
  if (request.text !== undefined) return request.text;
  try {
    return (await readFileBounded(request.file, READ_CAPS.scene, 'scene')).toString('utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new SceneError(request.file, [{ severity: 'error', code: 'missing-file', message: `cannot read the scene: ${reason}`, range: AT_START }]);
  }
}

/** Plans one scene. Scene problems throw SceneError with every diagnostic; unusable models throw ModelError. */
export async function planRender(request: PlanRequest, services: PlanServices, signal?: AbortSignal): Promise<RenderPlan> {
  const text = await sceneText(request);
  const context = { ...request.context, file: request.file };
  const parsed = parseScene(text);
  let analysis = analyzeScene(checkParsedScene(parsed, context), context);
  // A single-file checkpoint or diffusers folder named by model: is converted (once per content) first.
  const source = analysis.pendingConversion;
  if (source && context.checkpointCacheDir && !hasErrors(analysis.diagnostics)) {
    await ensureConvertedCheckpoint(source, context.checkpointCacheDir, { hashes: services.hashes, signal, onProgress: services.onConvert });
    analysis = analyzeScene(checkParsedScene(parsed, context), context);
  }
  const { resolved } = analysis;
  if (!resolved) throw new SceneError(request.file, analysis.diagnostics);
  const jobs = await jobsForScene(resolved, request.context.projectRoot, services.hashes, services.runtimeVersion, signal);
  const planned: PlannedJob[] = [];
  for (const job of jobs) planned.push({ job, freshness: await judgeFreshness(job) });
  // Licence findings never stop a render (you may hold another licence); they are reported with the plan.
  const warnings = [...resolved.diagnostics, ...(await licenceDiagnostics(resolved, request.context.projectRoot))];
  return { file: request.file, resolved, jobs: planned, warnings, projectRoot: request.context.projectRoot };
}
