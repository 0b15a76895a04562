// Small helpers shared by the extension-host tests: locating the test workspace, waiting for VS Code
// state that changes asynchronously, and leaving the window clean between tests.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as vscode from 'vscode';

export const EXTENSION_ID = 'imgprompt.imgprompt';

/** A file in the workspace folder the runner opened (a writable copy of test/vscode/workspace). */
export function workspaceFile(...segments: string[]): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the test run must open a workspace folder (test/vscode/workspace)');
  return vscode.Uri.joinPath(folder.uri, ...segments);
}

/** Polls `condition` until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Closes every editor, discarding unsaved changes: closing a dirty one normally asks, and a modal would hang the run. */
export async function closeAllEditors(): Promise<void> {
  const openTabs = (): number => vscode.window.tabGroups.all.reduce((count, group) => count + group.tabs.length, 0);
  for (let attempts = 0; openTabs() > 0 && attempts < 20; attempts++) {
    const before = openTabs();
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    // The tab model is updated after the command resolves.
    await waitFor('the editor to close', () => openTabs() < before, 5_000).catch(() => {});
  }
  assert.equal(openTabs(), 0, `editors left open after the test: ${vscode.window.tabGroups.all.flatMap((g) => g.tabs.map((t) => t.label)).join(', ')}`);
}

let scratchCount = 0;

/**
 * Writes `content` to a new scene file in the workspace and opens it. A file rather than an untitled
 * document: reverted untitled documents are renamed back to Untitled-1 and a later one can meet the
 * stale copy of an earlier one.
 */
export async function openScratch(content: string): Promise<vscode.TextEditor> {
  const uri = workspaceFile(`scratch-${++scratchCount}-${Date.now()}.imgprompt`);
  await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(content));
  return showFocused(await vscode.workspace.openTextDocument(uri));
}

/** Shows `document` and waits until its editor is the active one, so typing and editor commands reach it. */
export async function showFocused(document: vscode.TextDocument): Promise<vscode.TextEditor> {
  const editor = await vscode.window.showTextDocument(document, { preserveFocus: false });
  await waitFor('the editor to become active', () => vscode.window.activeTextEditor?.document === editor.document);
  await vscode.commands.executeCommand('workbench.action.focusActiveEditorGroup');
  return editor;
}

/**
 * The processes below this extension host (the process the tests run in) whose command line names
 * `script`: e.g. the render worker, `<extension>/out/worker.js`, which RenderWorkerClient forks. Only
 * descendants count, so another VS Code or test run on the machine does not. Uses `ps` (Linux, macOS).
 */
export function childProcessesRunning(script: string): string[] {
  const table = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,args='], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const rows = table
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] }));
  const below = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const row of rows) {
      if (!below.has(row.pid) && below.has(row.ppid)) {
        below.add(row.pid);
        grew = true;
      }
    }
  }
  return rows.filter((row) => row.pid !== process.pid && below.has(row.pid) && row.args.includes(script)).map((row) => `${row.pid} ${row.args}`);
}
