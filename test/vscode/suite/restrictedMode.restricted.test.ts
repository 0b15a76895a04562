// Restricted Mode (a workspace the user has not trusted): the language itself still works, because
// the extension declares limited support for untrusted workspaces. Run by the restricted phase of
// scripts/vscode-test/run.mjs (Workspace Trust enabled, folder not trusted).
/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { EXTENSION_ID, closeAllEditors, openScratch, showFocused, waitFor, workspaceFile } from './helpers';

suite('imgprompt in Restricted Mode', () => {
  teardown(closeAllEditors);

  test('the workspace is not trusted', () => {
    assert.equal(vscode.workspace.isTrusted, false);
  });

  test('a scene still opens as imgprompt and the extension activates', async () => {
    const document = await vscode.workspace.openTextDocument(workspaceFile('scene.imgprompt'));
    await showFocused(document);
    assert.equal(document.languageId, 'imgprompt');
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    await waitFor(`${EXTENSION_ID} to activate in Restricted Mode`, () => extension?.isActive === true);
  });

  test('line comments still toggle', async () => {
    const editor = await openScratch('steps: 20\n');
    await vscode.commands.executeCommand('editor.action.commentLine');
    assert.equal(editor.document.lineAt(0).text, '# steps: 20');
  });
});
