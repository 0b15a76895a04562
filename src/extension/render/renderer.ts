// The seam between the editor features and rendering. Commands, CodeLens and the status of scenes talk
// to a Renderer; RenderQueue implements it (behind TrustedRenderer for Restricted Mode).
import type * as vscode from 'vscode';

/** What asked for a render: decides e.g. whether a failure interrupts the user (command) or not (save). */
export type RenderTrigger = 'command' | 'save' | 'workspace';

export type SceneRenderState =
  | { kind: 'idle' }
  | { kind: 'queued' }
  | {
      kind: 'rendering';
      /** Completed denoising steps and their total, when the pipeline has reported them. */
      step?: number;
      totalSteps?: number;
      /** A short phrase for the status line: `loading model`, `denoising`, `writing PNG`. */
      stage?: string;
    };

export interface RenderStateChange {
  scene: vscode.Uri;
  state: SceneRenderState;
}

export interface Renderer extends vscode.Disposable {
  /** Fires whenever a scene's state changes (queued, each progress report, finished). */
  readonly onDidChangeState: vscode.Event<RenderStateChange>;

  /** The current state of `scene`; `idle` for scenes never seen. */
  stateOf(scene: vscode.Uri): SceneRenderState;

  /** Renders one scene (queued behind others; a newer request for the same scene replaces an older one). */
  render(scene: vscode.Uri, trigger: RenderTrigger): Promise<void>;

  /** Renders every scene given, with visible progress; `token` (the command's cancellable notification) cancels the rest. */
  renderAll(scenes: readonly vscode.Uri[], token: vscode.CancellationToken): Promise<void>;

  /** Checks that the outputs of `scenes` are up to date and reproducible; reports problems itself (e.g. as diagnostics). */
  verify(scenes: readonly vscode.Uri[], token: vscode.CancellationToken): Promise<void>;

  /** Shows the preview of `scene` (beside the editor unless `viewColumn` says otherwise). */
  openPreview(scene: vscode.Uri, viewColumn?: vscode.ViewColumn): Promise<void>;

  /** Cancels the render of `scene`, or every queued and running render when `scene` is omitted. */
  cancel(scene?: vscode.Uri): void;
}
