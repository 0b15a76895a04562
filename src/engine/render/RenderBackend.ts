// The seam between the render service and whatever turns a job into pixels: the local ONNX pipeline
// today; remote servers (ComfyUI, A1111) and other execution providers implement the same interface.
// A backend renders in memory; the service owns planning, freshness, PNG encoding, provenance and writing.
import type { RGBImage } from '../image/rgbImage';
import type { StageTimingReport } from './StageTimings';
import type { RenderJob } from './renderJob';

export interface RenderProgress {
  /** `convert`: a single-file checkpoint is being converted (step = components done of total). */
  readonly phase: 'convert' | 'load' | 'encode' | 'denoise' | 'decode' | 'write';
  /** Denoising step (1-based) and total; 0/total outside the denoise phase. */
  readonly step: number;
  readonly total: number;
  /** A cheap preview of the current estimate (latent resolution or full size), when asked for. */
  readonly preview?: RGBImage;
}

export interface BackendRenderOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: RenderProgress) => void;
  /** Emit a preview image with every denoising step. */
  readonly previews?: boolean;
  /** Receives the latents after each denoising step (for checking trajectories against a reference). */
  readonly onStepLatents?: (step: number, latents: Float32Array) => void;
}

/** A hint image as the ControlNet saw it (after preprocessing, at the output size). */
export interface PreparedHint {
  readonly type: string;
  readonly image: RGBImage;
}

/** How a scene's LoRA met the model: modules merged into a weight, and those that found none. */
export interface LoraReport {
  /** The LoRA as the scene names it (project-relative). */
  readonly file: string;
  readonly weight: number;
  readonly matched: number;
  readonly total: number;
  /** Module keys (as the file spells them) that match no weight of the model. */
  readonly unmatched: readonly string[];
  /** Tensors of adapter kinds the engine does not apply (LoHa, LoKr, DoRA scales...). */
  readonly unsupported: readonly string[];
}

/** What a backend made of one job: pixels, and what the service reports beside them. */
export interface BackendRender {
  readonly image: RGBImage;
  readonly hints: readonly PreparedHint[];
  readonly loras: readonly LoraReport[];
  /** Non-fatal problems, e.g. a prompt truncated to the tokenizer's context. */
  readonly warnings: readonly string[];
  readonly timings: StageTimingReport;
  /** Set by remote backends: where the pixels were made, recorded in the figure beside the recipe. */
  readonly provenance?: RemoteProvenance;
}

/** A render made by a server (ComfyUI, A1111): reproducible from its recipe, not byte for byte. */
export interface RemoteProvenance {
  /** The server's API: `comfyui` or `a1111`. */
  readonly api: string;
  /** The server's configured name (never its address: that is this machine's configuration). */
  readonly server: string;
  /** The server's own version as it reports it. */
  readonly version: string;
  /** The exact request body sent (the ComfyUI graph or the A1111 payload), as JSON text. */
  readonly request: string;
  readonly reproducibility: 'recipe-reproducible';
}

export interface RenderBackend {
  /** A short name for logs and provenance, e.g. `local-onnx`. */
  readonly name: string;
  /** The runtime and its version recorded in each figure's provenance, e.g. onnxruntime's `1.30.0`. */
  readonly runtimeVersion: string;
  render(job: RenderJob, options?: BackendRenderOptions): Promise<BackendRender>;
  /** Drops per-render caches that a caller may want fresh (cached prompt embeddings). */
  forgetPrompts?(): void;
  dispose(): Promise<void>;
}
