// Routes Renderer.openPreview to the preview panels while everything else goes to the wrapped renderer,
// so the preview works before (and independently of) the render queue. The lead's render queue can
// call PreviewManager.openPreview itself and drop this wrapper.
import type * as vscode from 'vscode';
import type { Renderer, RenderStateChange, RenderTrigger, SceneRenderState } from '../render/renderer';
import type { RenderEvents } from '../render/renderEvents';
import type { PreviewManager } from './previewManager';

export class PreviewingRenderer implements Renderer {
  readonly onDidChangeState: vscode.Event<RenderStateChange>;

  constructor(
    private readonly inner: Renderer,
    private readonly preview: PreviewManager,
  ) {
    this.onDidChangeState = inner.onDidChangeState;
  }

  stateOf(scene: vscode.Uri): SceneRenderState {
    return this.inner.stateOf(scene);
  }

  render(scene: vscode.Uri, trigger: RenderTrigger): Promise<void> {
    return this.inner.render(scene, trigger);
  }

  renderAll(scenes: readonly vscode.Uri[], token: vscode.CancellationToken): Promise<void> {
    return this.inner.renderAll(scenes, token);
  }

  verify(scenes: readonly vscode.Uri[], token: vscode.CancellationToken): Promise<void> {
    return this.inner.verify(scenes, token);
  }

  async openPreview(scene: vscode.Uri, viewColumn?: vscode.ViewColumn): Promise<void> {
    await this.preview.openPreview(scene, viewColumn);
  }

  cancel(scene?: vscode.Uri): void {
    this.inner.cancel(scene);
  }

  dispose(): void {
    this.inner.dispose();
  }
}

const never = (): vscode.Disposable => ({ dispose() {} });

/** RenderEvents that never fire: what the preview listens to until a render queue provides real ones. */
export const NO_RENDER_EVENTS: RenderEvents = {
  onDidStart: never,
  onDidStep: never,
  onDidRender: never,
  onDidFinish: never,
  onDidFail: never,
};
