// Keeps the `imgprompt.rendering` context key true while any scene is queued or rendering, so Cancel
// Render shows in the command palette and menus only when there is something to cancel.
import * as vscode from 'vscode';
import { RENDERING_CONTEXT_KEY } from '../commands/commandIds';
import type { Renderer } from './renderer';

export class RenderingContextKey {
  static register(renderer: Renderer): vscode.Disposable {
    const busy = new Set<string>();
    let last = false;
    void vscode.commands.executeCommand('setContext', RENDERING_CONTEXT_KEY, false);
    return renderer.onDidChangeState(({ scene, state }) => {
      if (state.kind === 'idle') busy.delete(scene.toString());
      else busy.add(scene.toString());
      if (busy.size > 0 !== last) {
        last = busy.size > 0;
        void vscode.commands.executeCommand('setContext', RENDERING_CONTEXT_KEY, last);
      }
    });
  }
}
