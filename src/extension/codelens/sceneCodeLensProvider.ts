// The actions above a scene's first line: Render · Open Preview · Verify, and while the scene renders,
// its progress and Cancel. Refreshed whenever the renderer reports a state change.
import * as vscode from 'vscode';
import { COMMANDS } from '../commands/commandIds';
import type { Renderer, SceneRenderState } from '../render/renderer';
import { LANGUAGE_ID } from '../scene/sceneAnalyzer';
import { Disposable } from '../util/disposable';

/** The CodeLens titles for a scene in `state`, in order, with the command each runs. Exported for tests. */
export function lensCommands(state: SceneRenderState): { title: string; command: string; tooltip: string }[] {
  if (state.kind === 'idle') {
    return [
      { title: '$(play) Render', command: COMMANDS.render, tooltip: 'Render this scene to its PNG' },
      { title: '$(open-preview) Open Preview', command: COMMANDS.openPreview, tooltip: 'Show the rendered figure beside the editor' },
      { title: '$(check) Verify', command: COMMANDS.verify, tooltip: 'Check that the PNG is up to date and reproducible' },
    ];
  }
  const progress =
    state.kind === 'queued'
      ? '$(clock) Queued'
      : `$(sync~spin) Rendering${state.stage ? ` (${state.stage})` : ''}${state.step !== undefined && state.totalSteps ? ` ${state.step}/${state.totalSteps}` : ''}`;
  return [
    { title: progress, command: COMMANDS.openPreview, tooltip: 'Show the preview' },
    { title: '$(close) Cancel', command: COMMANDS.cancelRender, tooltip: 'Cancel this render' },
  ];
}

export class SceneCodeLensProvider extends Disposable implements vscode.CodeLensProvider {
  private readonly changes = this.register(new vscode.EventEmitter<void>());
  readonly onDidChangeCodeLenses = this.changes.event;

  static register(renderer: Renderer): vscode.Disposable {
    const provider = new SceneCodeLensProvider(renderer);
    return vscode.Disposable.from(provider, vscode.languages.registerCodeLensProvider(LANGUAGE_ID, provider));
  }

  private constructor(private readonly renderer: Renderer) {
    super();
    this.register(renderer.onDidChangeState(() => this.changes.fire()));
  }

  /** Called by VS Code when a scene is shown or onDidChangeCodeLenses fires. */
  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const top = new vscode.Range(0, 0, 0, 0);
    return lensCommands(this.renderer.stateOf(document.uri)).map(
      (c) => new vscode.CodeLens(top, { title: c.title, command: c.command, tooltip: c.tooltip, arguments: [document.uri] }),
    );
  }
}
