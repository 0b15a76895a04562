// Workspace Trust for rendering: in Restricted Mode nothing renders or verifies (rendering runs model
// code on files the workspace names), while previews of existing PNGs and every language feature keep
// working. Two layers: TrustedRenderer wraps whichever Renderer the composition root builds and refuses
// requests with a clear message; the boundary itself is RenderQueue's worker client factory, which every
// path to the worker process passes (commands, render on save, Render All, Verify's freshness checks).
import * as vscode from 'vscode';
import { UserError } from '../util/userError';
import type { Renderer, RenderStateChange, RenderTrigger, SceneRenderState } from './renderer';

export const RESTRICTED_MODE_MESSAGE =
  'imgprompt does not render in Restricted Mode: rendering loads the models and files this workspace names. Trust the workspace to render; editing, checking and previews keep working.';

/** What every refused render says, wherever in the render path the refusal happens. */
export function restrictedModeError(): UserError {
  return new UserError(RESTRICTED_MODE_MESSAGE, 'warning', [{ title: 'Manage Workspace Trust', command: 'workbench.trust.manage' }]);
}

/** Workspace Trust as VS Code reports it now: it can change from false to true without a reload. */
export const isWorkspaceTrusted = (): boolean => vscode.workspace.isTrusted;

/**
 * Refuses requests with a message that names Restricted Mode. Not the security boundary (RenderQueue
 * refuses to create its worker client while untrusted, whatever asked); this layer gives the commands
 * and CodeLens a clear refusal before anything is queued.
 */
export class TrustedRenderer implements Renderer {
  readonly onDidChangeState: vscode.Event<RenderStateChange>;

  constructor(
    private readonly inner: Renderer,
    private readonly isTrusted: () => boolean = isWorkspaceTrusted,
  ) {
    this.onDidChangeState = inner.onDidChangeState;
  }

  private requireTrust(): void {
    if (!this.isTrusted()) throw restrictedModeError();
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
