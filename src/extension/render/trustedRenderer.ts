// Workspace Trust at the one place rendering starts: in Restricted Mode nothing renders or verifies
// (rendering runs model code on files the workspace names), while previews of existing PNGs and every
// language feature keep working. Wraps whichever Renderer the composition root builds.
import * as vscode from 'vscode';
import { UserError } from '../util/userError';
import type { Renderer, RenderStateChange, RenderTrigger, SceneRenderState } from './renderer';

export const RESTRICTED_MODE_MESSAGE =
  'imgprompt does not render in Restricted Mode: rendering loads the models and files this workspace names. Trust the workspace to render; editing, checking and previews keep working.';

export class TrustedRenderer implements Renderer {
  readonly onDidChangeState: vscode.Event<RenderStateChange>;

  constructor(
    private readonly inner: Renderer,
    private readonly isTrusted: () => boolean = () => vscode.workspace.isTrusted,
  ) {
    this.onDidChangeState = inner.onDidChangeState;
  }

  private requireTrust(): void {
    if (!this.isTrusted()) {
      throw new UserError(RESTRICTED_MODE_MESSAGE, 'warning', [{ title: 'Manage Workspace Trust', command: 'workbench.trust.manage' }]);
    }
  }

  stateOf(scene: vscode.Uri): SceneRenderState {
    return this.inner.stateOf(scene);
  }

  async render(scene: vscode.Uri, trigger: RenderTrigger): Promise<void> {
    // A save in Restricted Mode is not a request to render: stay quiet rather than nag on every save.
    if (trigger === 'save' && !this.isTrusted()) return;
    this.requireTrust();
    return this.inner.render(scene, trigger);
  }

  async renderAll(scenes: readonly vscode.Uri[], token: vscode.CancellationToken): Promise<void> {
    this.requireTrust();
    return this.inner.renderAll(scenes, token);
  }

  async verify(scenes: readonly vscode.Uri[], token: vscode.CancellationToken): Promise<void> {
    this.requireTrust();
    return this.inner.verify(scenes, token);
  }

  openPreview(scene: vscode.Uri, viewColumn?: vscode.ViewColumn): Promise<void> {
    return this.inner.openPreview(scene, viewColumn);
  }

  cancel(scene?: vscode.Uri): void {
    this.inner.cancel(scene);
  }

  dispose(): void {
    this.inner.dispose();
  }
}
