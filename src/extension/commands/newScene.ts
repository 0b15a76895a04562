// New Scene: asks for a name, writes a scene from the template into the chosen folder (explorer
// selection, the active file's folder, or the workspace) and opens it. Arguments, for menus and tests:
// a folder Uri, or { folder?: Uri, name?: string, prompt?: string } to skip the questions.
import * as vscode from 'vscode';
import { checkSceneName, randomSeed, sceneBaseName, sceneTemplate } from '../language/sceneTemplate';
import { UserError } from '../util/userError';
import type { CommandRunner } from './commandRunner';
import { COMMANDS } from './commandIds';
import { folderTarget, isUri, writeNewFile } from './commandTargets';

export interface NewSceneRequest {
  folder?: vscode.Uri;
  name?: string;
  prompt?: string;
}

function isRequest(arg: unknown): arg is NewSceneRequest {
  return typeof arg === 'object' && arg !== null && !isUri(arg) && ('name' in arg || 'folder' in arg);
}

/** Creates the scene; returns its Uri, or undefined when the user dismissed the name prompt. */
export async function newScene(arg: unknown): Promise<vscode.Uri | undefined> {
  const request: NewSceneRequest = isRequest(arg) ? arg : isUri(arg) ? { folder: arg } : {};
  const folder = await folderTarget(request.folder);
  const name =
    request.name ??
    (await vscode.window.showInputBox({
      title: 'New imgprompt Scene',
      prompt: `Scene name (in ${vscode.workspace.asRelativePath(folder)}); the figure is written as NAME.png beside it`,
      placeHolder: 'architecture-overview',
      validateInput: (v) => checkSceneName(sceneBaseName(v)),
    }));
  if (name === undefined) return undefined;
  const base = sceneBaseName(name);
  const problem = checkSceneName(base);
  if (problem) throw new UserError(`${problem}: ${JSON.stringify(name)}`, 'warning');
  const target = vscode.Uri.joinPath(folder, `${base}.imgprompt`);
  await writeNewFile(target, sceneTemplate({ name: base, prompt: request.prompt, seed: randomSeed() }));
  const editor = await vscode.window.showTextDocument(target);
  // Put the cursor on the prompt: it is what the author writes first.
  const promptLine = editor.document.getText().split('\n').findIndex((l) => l.startsWith('prompt:'));
  if (promptLine >= 0) {
    const line = editor.document.lineAt(promptLine);
    editor.selection = new vscode.Selection(promptLine, 'prompt: '.length, promptLine, line.text.length);
  }
  return target;
}

export function registerNewScene(runner: CommandRunner): vscode.Disposable {
  return runner.register(COMMANDS.newScene, 'New Scene', newScene);
}
