// Import Scene from PNG: reads the generation metadata of a PNG made by imgprompt, AUTOMATIC1111,
// ComfyUI or InvokeAI (the engine's interop), writes NAME.imgprompt beside it and opens it.
import { basename, dirname, extname } from 'node:path';
import * as vscode from 'vscode';
import { readImageMetadataFile, sceneFromMetadata } from '../../engine/editor';
import { UserError } from '../util/userError';
import type { CommandRunner } from './commandRunner';
import { COMMANDS } from './commandIds';
import { pngTarget } from './commandTargets';

export async function importScene(arg: unknown): Promise<vscode.Uri | undefined> {
  const png = await pngTarget(arg, 'Import Scene from PNG');
  if (!png) return undefined;
  if (png.scheme !== 'file') throw new UserError(`Import reads PNGs on disk; ${png.toString()} is not a local file.`, 'warning');
  const report = await readImageMetadataFile(png.fsPath);
  if (!report.metadata) {
    const keys = report.text.map((t) => t.keyword);
    throw new UserError(
      `${basename(png.fsPath)} carries no generation metadata from imgprompt, AUTOMATIC1111, ComfyUI or InvokeAI${keys.length ? ` (its text chunks: ${keys.join(', ')})` : ' (it has no text chunks)'}.`,
      'warning',
    );
  }
  const target = vscode.Uri.file(`${dirname(png.fsPath)}/${basename(png.fsPath, extname(png.fsPath))}.imgprompt`);
  const text = sceneFromMetadata(report.metadata, { sourceFile: basename(png.fsPath), sceneDir: dirname(target.fsPath) });
  let exists = true;
  try {
    await vscode.workspace.fs.stat(target);
  } catch {
    exists = false;
  }
  if (exists) {
    const choice = await vscode.window.showWarningMessage(`${basename(target.fsPath)} already exists beside the PNG.`, { modal: true }, 'Replace', 'Open Existing');
    if (choice === 'Open Existing') {
      await vscode.window.showTextDocument(target);
      return target;
    }
    if (choice !== 'Replace') return undefined;
  }
  await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(text));
  await vscode.window.showTextDocument(target);
  return target;
}

export function registerImportScene(runner: CommandRunner): vscode.Disposable {
  return runner.register(COMMANDS.importScene, 'Import Scene from PNG', importScene);
}
