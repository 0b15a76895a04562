// Shared set-up for the language-feature suites (language*.test.ts): points imgprompt.modelPaths at the
// fixture models so scenes resolve without the embedded model, writes files into the workspace copy,
// opens scenes and waits for their diagnostics.
import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { EXTENSION_ID, waitFor, workspaceFile } from './helpers';

/** The extension's API (what activate returns), activating it if needed. */
export async function extensionApi(): Promise<{ activationMs: number }> {
  const extension = vscode.extensions.getExtension<{ activationMs: number }>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not installed`);
  return extension.activate();
}

/** Uses the fixture model folders (configs only, enough for checking scenes) for the whole workspace. */
export async function useFixtureModels(): Promise<void> {
  const extension = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(extension);
  await vscode.workspace.getConfiguration('imgprompt').update('modelPaths', [join(extension.extensionPath, 'test', 'fixtures', 'models')], vscode.ConfigurationTarget.Workspace);
}

export async function resetModelPaths(): Promise<void> {
  await vscode.workspace.getConfiguration('imgprompt').update('modelPaths', undefined, vscode.ConfigurationTarget.Workspace);
}

/** A file of the project itself (the extension's development folder), e.g. a fixture. */
export function projectFile(...segments: string[]): vscode.Uri {
  const extension = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(extension);
  return vscode.Uri.joinPath(extension.extensionUri, ...segments);
}

export async function writeWorkspaceFile(relativePath: string, content: string | Uint8Array): Promise<vscode.Uri> {
  const uri = workspaceFile(...relativePath.split('/'));
  await vscode.workspace.fs.writeFile(uri, typeof content === 'string' ? new TextEncoder().encode(content) : content);
  return uri;
}

/** imgprompt diagnostics of `uri`. */
export function sceneDiagnostics(uri: vscode.Uri): vscode.Diagnostic[] {
  return vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'imgprompt');
}

/** `line:col-line:col severity code: message`, 1-based like the engine's golden files. */
export function describeDiagnostic(d: vscode.Diagnostic): string {
  const severity = ['error', 'warning', 'info', 'hint'][d.severity];
  const r = d.range;
  return `${r.start.line + 1}:${r.start.character + 1}-${r.end.line + 1}:${r.end.character + 1} ${severity} ${String(d.code)}: ${d.message}`;
}

/** Writes a scene, opens it in an editor and waits until its diagnostics satisfy `ready`. */
export async function openScene(relativePath: string, text: string, ready: (d: vscode.Diagnostic[]) => boolean = (d) => d.length > 0): Promise<vscode.TextEditor> {
  const uri = await writeWorkspaceFile(relativePath, text);
  const editor = await vscode.window.showTextDocument(uri);
  assert.equal(editor.document.languageId, 'imgprompt');
  await waitFor(`diagnostics of ${relativePath}`, () => ready(sceneDiagnostics(uri)));
  return editor;
}
