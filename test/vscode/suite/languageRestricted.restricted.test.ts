// Language features in Restricted Mode (run by the restricted phase of scripts/vscode-test/run.mjs):
// problems, completion and hover work; workspace values of imgprompt.modelPaths are ignored (it is a
// restricted setting); the renderer refuses to render or verify, saying why.
/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { EXTENSION_ID, closeAllEditors } from './helpers';
import { describeDiagnostic, openScene, projectFile, sceneDiagnostics } from './languageSupport';

interface Api {
  renderer: { render(scene: vscode.Uri, trigger: string): Promise<void>; verify(scenes: vscode.Uri[], token: vscode.CancellationToken): Promise<void> };
}

suite('imgprompt language features in Restricted Mode', () => {
  teardown(closeAllEditors);

  test('problems are reported; a workspace model path is ignored until the folder is trusted', async () => {
    assert.equal(vscode.workspace.isTrusted, false);
    await vscode.workspace.getConfiguration('imgprompt').update('modelPaths', [projectFile('test', 'fixtures', 'models').fsPath], vscode.ConfigurationTarget.Workspace);
    const editor = await openScene('restricted.imgprompt', 'model: sd15\nprompt: a red circle\nsampler: dpm\n', (d) => d.length >= 2);
    const problems = sceneDiagnostics(editor.document.uri).map(describeDiagnostic);
    assert.match(problems[0], /^1:8-1:12 error missing-model: model 'sd15' not found; looked in /);
    assert.match(problems[1], /^3:10-3:13 error unknown-value: unknown sampler 'dpm'/);
  });

  test('completion and hover work', async () => {
    const editor = await openScene('restricted-features.imgprompt', 'prompt: x\nsampler: \n', () => true);
    const list = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider', editor.document.uri, new vscode.Position(1, 9));
    assert.ok(list.items.some((i) => i.label === 'euler_a'));
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', editor.document.uri, new vscode.Position(0, 2));
    assert.ok(hovers.length > 0, 'no hover on prompt');
  });

  test('the renderer refuses to render or verify, naming Restricted Mode', async () => {
    const extension = vscode.extensions.getExtension<Api>(EXTENSION_ID);
    assert.ok(extension);
    const { renderer } = await extension.activate();
    const scene = projectFile('samples', 'red-circle.imgprompt');
    await assert.rejects(renderer.render(scene, 'command'), /does not render in Restricted Mode/);
    await assert.rejects(renderer.verify([scene], new vscode.CancellationTokenSource().token), /does not render in Restricted Mode/);
    // A save is not a request: in Restricted Mode it is silently not rendered.
    await renderer.render(scene, 'save');
  });
});
