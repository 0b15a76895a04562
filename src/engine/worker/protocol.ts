// Messages between the render worker thread and its client (the extension host or any Node caller).
import type { SceneDiagnostic } from '../errors';
import type { OutputState, PortableRecipe, RenderProgress } from '../pipeline';
import type { StageTimingReport } from '../pipeline/StageTimings';

/** Where a scene sits: everything resolveScene needs besides the text. */
export interface WorkerSceneContext {
  readonly file: string;
  readonly projectRoot: string;
  readonly modelSearchPaths: readonly string[];
  readonly builtinModelsDir?: string;
}

export interface WorkerRenderRequest {
  readonly scene: WorkerSceneContext;
  /** The scene's text (the editor's buffer); read from disk when absent. */
  readonly text?: string;
  /** Render even when the output is up to date. */
  readonly force?: boolean;
  /** Send a latent preview with each step's progress. */
  readonly previews?: boolean;
  /** Render in memory only (verify --rerender, previews of unsaved edits). */
  readonly dryRun?: boolean;
}

export interface WorkerJobResult {
  readonly output: string;
  readonly hash: string;
  readonly state: 'rendered' | 'up-to-date';
  readonly previousState: OutputState;
  readonly metadata: PortableRecipe;
  readonly timings?: StageTimingReport;
  readonly warnings: readonly string[];
}

export interface WorkerRenderResult {
  readonly jobs: readonly WorkerJobResult[];
  /** Warnings from resolving the scene (e.g. size over the model's comfortable range). */
  readonly diagnostics: readonly SceneDiagnostic[];
}

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly path?: string;
  readonly file?: string;
  readonly diagnostics?: readonly SceneDiagnostic[];
}

export type ToWorker =
  | { readonly type: 'render'; readonly id: number; readonly request: WorkerRenderRequest }
  | { readonly type: 'cancel'; readonly id: number }
  | { readonly type: 'configure'; readonly threads?: number; readonly cacheDir?: string };

export type FromWorker =
  | { readonly type: 'progress'; readonly id: number; readonly job: number; readonly jobs: number; readonly progress: RenderProgress }
  | { readonly type: 'done'; readonly id: number; readonly result: WorkerRenderResult }
  | { readonly type: 'error'; readonly id: number; readonly error: SerializedError };
