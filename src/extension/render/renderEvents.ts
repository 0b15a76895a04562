// What the render service tells the preview (and anything else that shows renders as they happen): live
// step previews, finished outputs with their recipe, failures. The render queue fires these; the preview
// panel listens. Kept separate from Renderer so the preview does not depend on how rendering is done.
import type * as vscode from 'vscode';

export interface RenderStepPreview {
  readonly scene: vscode.Uri;
  /** Which output of the scene (0: the main one, then variants) and how many. */
  readonly job: number;
  readonly jobs: number;
  readonly step: number;
  readonly totalSteps: number;
  /** RGB bytes (width × height × 3) decoded linearly from the latents: a rough, tiny preview. */
  readonly rgb: Uint8Array;
  readonly width: number;
  readonly height: number;
}

export interface RenderedOutput {
  readonly scene: vscode.Uri;
  /** The PNG written (or found up to date). */
  readonly output: vscode.Uri;
  /** The portable recipe stored in the PNG (the engine's PortableRecipe). */
  readonly recipe: Readonly<Record<string, unknown>>;
  readonly hash: string;
  /** `rendered` when this run wrote it; `up-to-date` when it was already current. */
  readonly state: 'rendered' | 'up-to-date';
  /** Seed of this output (variants differ from the scene's seed). */
  readonly seed: string;
  /** Milliseconds the render took, when it rendered. */
  readonly totalMs?: number;
}

export interface RenderFailure {
  readonly scene: vscode.Uri;
  readonly message: string;
  readonly cancelled: boolean;
}

export interface RenderEvents {
  readonly onDidStart: vscode.Event<{ readonly scene: vscode.Uri; readonly totalSteps: number; readonly jobs: number }>;
  readonly onDidStep: vscode.Event<RenderStepPreview>;
  readonly onDidRender: vscode.Event<RenderedOutput>;
  /** Fires once per render request after all its outputs (variants included) are done. */
  readonly onDidFinish: vscode.Event<{ readonly scene: vscode.Uri; readonly outputs: readonly RenderedOutput[] }>;
  readonly onDidFail: vscode.Event<RenderFailure>;
}
