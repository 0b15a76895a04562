// What a command acts on: the Uri VS Code passes (CodeLens, explorer or editor-title menus), else the
// active editor's file. Each helper fails with a UserError that says what to open or select.
import * as vscode from 'vscode';
import { LANGUAGE_ID } from '../scene/sceneAnalyzer';
import { UserError } from '../util/userError';

export function isUri(value: unknown): value is vscode.Uri {
  return value instanceof vscode.Uri;
}

/** The scene a command was invoked on. */
export function sceneTarget(arg: unknown, verb: string): vscode.Uri {
  if (isUri(arg)) return arg;
  const document = vscode.window.activeTextEditor?.document;
  if (document?.languageId === LANGUAGE_ID) return document.uri;
  throw new UserError(`To ${verb}, open an .imgprompt scene (or pick one in the explorer) first.`, 'info');
}

/** A PNG (or an image with one of `extensions`) from the argument, the active editor, or a file picker; undefined when the picker is dismissed. */
export async function pngTarget(arg: unknown, title: string, extensions: readonly string[] = ['png']): Promise<vscode.Uri | undefined> {
  if (isUri(arg)) return arg;
  const active = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  const activeUri = active && typeof active === 'object' && 'uri' in active && isUri(active.uri) ? active.uri : undefined;
  if (activeUri && extensions.some((e) => activeUri.path.toLowerCase().endsWith(`.${e}`))) return activeUri;
  const picked = await vscode.window.showOpenDialog({
    title,
    canSelectMany: false,
    filters: { [extensions.length === 1 ? 'PNG images' : 'Images']: [...extensions] },
    defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
  });
  return picked?.[0];
}

/** The folder new files go into: the argument (a folder or a file in it), the active file's folder, or the first workspace folder. */
export async function folderTarget(arg: unknown): Promise<vscode.Uri> {
  if (isUri(arg)) {
    const stat = await vscode.workspace.fs.stat(arg);
    return stat.type & vscode.FileType.Directory ? arg : vscode.Uri.joinPath(arg, '..');
  }
  const active = vscode.window.activeTextEditor?.document.uri;
  if (active?.scheme === 'file' && vscode.workspace.getWorkspaceFolder(active)) return vscode.Uri.joinPath(active, '..');
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (folder) return folder.uri;
  throw new UserError('Open a folder first: scenes live in a project folder, next to the documents they illustrate.', 'info');
}

/** Writes `text` to `target` unless a file is already there. */
export async function writeNewFile(target: vscode.Uri, text: string): Promise<void> {
  try {
    await vscode.workspace.fs.stat(target);
    throw new UserError(`${vscode.workspace.asRelativePath(target)} already exists; choose another name.`, 'warning');
  } catch (error) {
    if (!(error instanceof vscode.FileSystemError) || error.code !== 'FileNotFound') throw error;
  }
  await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(text));
}
