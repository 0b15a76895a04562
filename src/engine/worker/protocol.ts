// Messages between the render worker thread and its client (the extension host or any Node caller).
import type { SceneDiagnostic } from '../errors';
import type { EngineOptions } from '../options';
import type { StageTimingReport } from '../render/StageTimings';
import type { FreshnessState } from '../render/freshness';
import type { LoraReport, RenderProgress } from '../render/RenderBackend';
import type { PortableRecipe } from '../render/renderJob';
import type { C2paReport } from '../provenance/readC2pa';
import type { WatermarkDetection } from '../watermark/detectWatermark';

/** What a watermark search found, as it crosses the process boundary (the codeword bits stay behind). */
export type WatermarkFinding = Pick<WatermarkDetection, 'detected' | 'payload' | 'confidence'>;
import type { LabelCorner } from '../watermark/visibleLabel';

/** Where a scene sits: everything resolveScene needs besides the text. */
export interface WorkerSceneContext {
  readonly file: string;
  readonly projectRoot: string;
  readonly modelSearchPaths: readonly string[];
  readonly builtinModelsDir?: string;
  /** The Hugging Face hub cache and imgprompt's Civitai folder, where `hf:` / Civitai references are found. */
  readonly hubCacheDir?: string;
  readonly civitaiDir?: string;
}

export interface WorkerRenderRequest {
  readonly scene: WorkerSceneContext;
  /** The scene's text (the editor's buffer); read from disk when absent. */
  readonly text?: string;
  /** Render even when the output is up to date. */
  readonly force?: boolean;
  /** Send a latent preview with each step's progress. */
  readonly previews?: boolean;
  /** Also write each preprocessed hint beside the output. */
  readonly saveHints?: boolean;
  /** Render in memory only (verify --rerender, previews of unsaved edits). */
  readonly dryRun?: boolean;
  /** Only plan and compare with the existing outputs: report missing / stale / up to date, render nothing. */
  readonly checkOnly?: boolean;
  /** Where the main output goes when the scene has no `output:` key (the editor's `imgprompt.outputPattern`). */
  readonly outputPattern?: string;
  /** The audience of scenes without an `audience:` key (the editor's `imgprompt.defaultAudience`). */
  readonly defaultAudience?: 'team' | 'public';
  /** The visible label of scenes without a `label:` key (the editor's `imgprompt.label`). */
  readonly defaultLabel?: { readonly text?: string; readonly corner?: LabelCorner; readonly size?: number; readonly opacity?: number };
  /** The workspace folder holding the scene, for `${workspaceFolder}` in the pattern. */
  readonly workspaceFolder?: string;
}

export interface WorkerJobResult {
  readonly output: string;
  readonly hash: string;
  /** What this request did or found: rendered it, or (checkOnly, or nothing to do) the output's state. */
  readonly state: 'rendered' | FreshnessState;
  readonly previousState: FreshnessState;
  /** Why the output was (or is) not up to date, in a phrase (freshness.ts). */
  readonly reason: string;
  /** For a stale output: the pixel-affecting fields that differ from the recipe stored in the PNG. */
  readonly changes?: readonly string[];
  readonly metadata: PortableRecipe;
  readonly timings?: StageTimingReport;
  readonly warnings: readonly string[];
  /** For a rendered job: how each LoRA matched the model. */
  readonly loras?: readonly LoraReport[];
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
  /** Read and validate an image's C2PA manifest (the native C2PA library lives in the worker, like onnxruntime). */
  | { readonly type: 'readC2pa'; readonly id: number; readonly file: string; readonly trustAnchorsPem?: string }
  /** Decode an image and search its pixels for the invisible watermark (a second or so: kept off the caller's thread). */
  | { readonly type: 'detectWatermark'; readonly id: number; readonly file: string }
  | ({ readonly type: 'configure' } & EngineOptions);

export type FromWorker =
  | { readonly type: 'progress'; readonly id: number; readonly job: number; readonly jobs: number; readonly progress: RenderProgress }
  | { readonly type: 'done'; readonly id: number; readonly result: WorkerRenderResult }
  | { readonly type: 'c2pa'; readonly id: number; readonly report: C2paReport }
  | { readonly type: 'watermark'; readonly id: number; readonly detection: WatermarkFinding }
  | { readonly type: 'error'; readonly id: number; readonly error: SerializedError };
