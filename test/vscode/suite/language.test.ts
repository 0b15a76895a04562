// The imgprompt language inside a real VS Code: registration, activation on opening a scene, and the
// language configuration (line comments with #, auto-closing brackets) that editing relies on.
/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { EXTENSION_ID, closeAllEditors, openScratch, showFocused, waitFor, workspaceFile } from './helpers';

suite('imgprompt language', () => {
  teardown(closeAllEditors);

  test('the extension is installed from the development path', () => {
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension, `extension ${EXTENSION_ID} is not installed`);
    assert.equal(extension.packageJSON.name, 'imgprompt');
  });

  test('imgprompt is a registered language', async () => {
    assert.ok((await vscode.languages.getLanguages()).includes('imgprompt'));
  });

  test('opening a .imgprompt file gives it the imgprompt language and activates the extension', async () => {
    const document = await vscode.workspace.openTextDocument(workspaceFile('scene.imgprompt'));
    await showFocused(document);
    assert.equal(document.languageId, 'imgprompt');
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    await waitFor(`${EXTENSION_ID} to activate`, () => extension?.isActive === true);
  });

  test('Toggle Line Comment adds and removes "# "', async () => {
    const editor = await openScratch('seed: 42\nsteps: 20\n');
    editor.selection = new vscode.Selection(0, 0, 0, 0);
    await vscode.commands.executeCommand('editor.action.commentLine');
    assert.equal(editor.document.lineAt(0).text, '# seed: 42');
    assert.equal(editor.document.lineAt(1).text, 'steps: 20');
    await vscode.commands.executeCommand('editor.action.commentLine');
    assert.equal(editor.document.lineAt(0).text, 'seed: 42');
  });

  test('typing an opening bracket auto-closes it', async () => {
    const editor = await openScratch('size: ');
    editor.selection = new vscode.Selection(0, 6, 0, 6);
    await vscode.commands.executeCommand('type', { text: '{' });
    assert.equal(editor.document.lineAt(0).text, 'size: {}');
  });
});
