// The contributed snippets, inserted by name the way VS Code inserts them from completion, and a
// scene written through the editor and saved into the workspace.
/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { closeAllEditors, openScratch, showFocused, waitFor, workspaceFile } from './helpers';

async function insertSnippet(editor: vscode.TextEditor, name: string): Promise<void> {
  const before = editor.document.getText();
  await vscode.commands.executeCommand('editor.action.insertSnippet', { langId: 'imgprompt', name });
  await waitFor(`snippet ${name} to be inserted`, () => editor.document.getText() !== before);
  await vscode.commands.executeCommand('leaveSnippet');
}

suite('imgprompt snippets', () => {
  teardown(closeAllEditors);

  test('"Scene" inserts a complete scene with the first choice of each enumeration', async () => {
    const uri = workspaceFile('from-snippet.imgprompt');
    await vscode.workspace.fs.writeFile(uri, new Uint8Array());
    const editor = await showFocused(await vscode.workspace.openTextDocument(uri));
    assert.equal(editor.document.languageId, 'imgprompt');
    await insertSnippet(editor, 'Scene');
    const lines = editor.document.getText().split('\n');
    assert.equal(lines[0], '# What this figure shows');
    assert.equal(lines[1], 'model: tiny-shapes');
    assert.match(lines[4], /^seed: \d{6}$/);
    assert.equal(lines[5], 'size: {megapixels: 0.25, aspect: "1:1"}');
    assert.equal(lines[6], 'sampler: euler_a');
    assert.equal(lines[7], 'schedule: karras');
    assert.equal(lines[10], 'output: from-snippet.png');
    assert.ok(await editor.document.save(), 'saving the scene failed');
    const onDisk = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    assert.equal(onDisk, editor.document.getText());
  });

  test('"LoRA" and "Control hint" insert list items with their keys', async () => {
    const editor = await openScratch('');
    const document = editor.document;
    await insertSnippet(editor, 'LoRA');
    assert.equal(document.getText(), '- file: loras/style.safetensors\n  weight: 0.8');
    await vscode.commands.executeCommand('editor.action.selectAll');
    await vscode.commands.executeCommand('deleteLeft');
    await insertSnippet(editor, 'Control hint');
    assert.equal(document.getText(), '- type: canny\n  image: hints/edges.png\n  strength: 1.0\n  start: 0\n  end: 1');
  });
});
