// The Renderer used until the render queue and preview exist: every request says so plainly; state
// never changes. Replaced in extension.ts by the real implementation.
import * as vscode from 'vscode';
import { UserError } from '../util/userError';
import type { Renderer, RenderStateChange, SceneRenderState } from './renderer';

const NOT_YET = 'is not available yet in this build of imgprompt; the scene is still checked as you type (see the Problems panel)';

export class UnavailableRenderer implements Renderer {
  private readonly changes = new vscode.EventEmitter<RenderStateChange>();
  readonly onDidChangeState = this.changes.event;

  stateOf(): SceneRenderState {
    return { kind: 'idle' };
  }

  async render(): Promise<void> {
    throw new UserError(`Rendering ${NOT_YET}`, 'info');
  }

  async renderAll(): Promise<void> {
    throw new UserError(`Rendering ${NOT_YET}`, 'info');
  }

  async verify(): Promise<void> {
    throw new UserError(`Verifying outputs ${NOT_YET}`, 'info');
  }

  async openPreview(): Promise<void> {
    throw new UserError(`The preview ${NOT_YET}`, 'info');
  }

  cancel(): void {}

  dispose(): void {
    this.changes.dispose();
  }
}
