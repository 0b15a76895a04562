// Render, Render All in Workspace, Verify, Verify Workspace, Open Preview and Cancel Render: each finds
// its scenes and hands them to the Renderer (which enforces Workspace Trust and does the work).
import * as vscode from 'vscode';
import type { Renderer } from '../render/renderer';
import { UserError } from '../util/userError';
import type { CommandRunner } from './commandRunner';
import { COMMANDS } from './commandIds';
import { isUri, sceneTarget } from './commandTargets';

const SCENE_GLOB = '**/*.imgprompt';
const EXCLUDE_GLOB = '**/{node_modules,.git,out}/**';

/** Every scene in the workspace, in path order (so Render All is predictable). */
export async function workspaceScenes(token?: vscode.CancellationToken): Promise<vscode.Uri[]> {
  const found = await vscode.workspace.findFiles(SCENE_GLOB, EXCLUDE_GLOB, undefined, token);
  if (found.length === 0) throw new UserError('No .imgprompt scenes in this workspace.', 'info');
  return found.sort((a, b) => a.path.localeCompare(b.path));
}

/** Runs a batch in a cancellable notification whose token the renderer honours. */
function batch(title: string, work: (token: vscode.CancellationToken) => Promise<void>): Thenable<void> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (_progress, token) => work(token));
}

export function registerRenderCommands(runner: CommandRunner, renderer: Renderer): vscode.Disposable {
  return vscode.Disposable.from(
    runner.register(COMMANDS.render, 'Render', (arg) => renderer.render(sceneTarget(arg, 'render'), 'command')),
    runner.register(COMMANDS.openPreview, 'Open Preview', (arg) => renderer.openPreview(sceneTarget(arg, 'open its preview'), vscode.ViewColumn.Beside)),
    runner.register(COMMANDS.verify, 'Verify', (arg) => {
      const scene = sceneTarget(arg, 'verify it');
      return batch('imgprompt: Verify', (token) => renderer.verify([scene], token));
    }),
    runner.register(COMMANDS.renderAll, 'Render All in Workspace', () =>
      batch('imgprompt: Render All in Workspace', async (token) => renderer.renderAll(await workspaceScenes(token), token)),
    ),
    runner.register(COMMANDS.verifyWorkspace, 'Verify Workspace', () =>
      batch('imgprompt: Verify Workspace', async (token) => renderer.verify(await workspaceScenes(token), token)),
    ),
    runner.register(COMMANDS.cancelRender, 'Cancel Render', (arg) => renderer.cancel(isUri(arg) ? arg : undefined)),
  );
}
