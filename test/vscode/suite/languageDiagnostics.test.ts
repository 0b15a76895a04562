// Diagnostics in a real VS Code: the engine's problems at their exact ranges with severity, code and
// source; updated as the user types; "output missing" until the PNG exists; quick fixes for typos.
/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { SCENE_KEYS } from '../../../src/engine/scene/sceneSpec';
import { closeAllEditors, waitFor } from './helpers';
import { describeDiagnostic, extensionApi, openScene, resetModelPaths, sceneDiagnostics, useFixtureModels, writeWorkspaceFile } from './languageSupport';

const BROKEN = ['# three problems, each on its own line', 'model: tiny-shapes', 'prompt: a red circle', 'sampler: dpm', 'steps: 0', 'colour: red', ''].join('\n');

suite('imgprompt diagnostics', () => {
  let activationMs = NaN;
  suiteSetup(async () => {
    ({ activationMs } = await extensionApi());
    await useFixtureModels();
  });
  suiteTeardown(resetModelPaths);
  teardown(closeAllEditors);

  test('activation wires everything in under 200 ms (nothing heavy loads)', () => {
    assert.ok(activationMs < 200, `activate() took ${activationMs.toFixed(1)} ms`);
  });

  test('a broken scene shows each problem at its exact range, with severity, code and source', async () => {
    const editor = await openScene('broken.imgprompt', BROKEN);
    assert.deepEqual(sceneDiagnostics(editor.document.uri).map(describeDiagnostic), [
      "4:10-4:13 error unknown-value: unknown sampler 'dpm'; did you mean 'dpmpp_2m'? allowed: euler, euler_a, ddim, dpmpp_2m, lcm",
      '5:8-5:9 error out-of-range: steps must be an integer from 1 to 1000; got 0',
      `6:1-6:7 error unknown-key: unknown key 'colour' in the scene; allowed: ${SCENE_KEYS.join(', ')}`,
    ]);
  });

  test('typing a fix clears its problem after the typing delay', async () => {
    const editor = await openScene('typing.imgprompt', BROKEN);
    const line = editor.document.lineAt(3);
    await editor.edit((e) => e.replace(new vscode.Range(3, 'sampler: '.length, 3, line.text.length), 'euler'));
    await waitFor('the sampler problem to go', () => !sceneDiagnostics(editor.document.uri).some((d) => d.code === 'unknown-value'));
    assert.equal(sceneDiagnostics(editor.document.uri).length, 2);
  });

  test('the quick fix replaces a misspelt value with the suggestion', async () => {
    const editor = await openScene('quickfix.imgprompt', BROKEN);
    const problem = sceneDiagnostics(editor.document.uri).find((d) => d.code === 'unknown-value');
    assert.ok(problem);
    const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', editor.document.uri, problem.range, vscode.CodeActionKind.QuickFix.value);
    const fix = actions.find((a) => a.title === "Change to 'dpmpp_2m'");
    assert.ok(fix?.edit, `no quick fix among: ${actions.map((a) => a.title).join(', ')}`);
    await vscode.workspace.applyEdit(fix.edit);
    assert.equal(editor.document.lineAt(3).text, 'sampler: dpmpp_2m');
  });

  test('a referenced file that does not exist is reported at its path', async () => {
    const editor = await openScene('lora-missing.imgprompt', 'prompt: x\nloras:\n  - file: loras/none.safetensors\n');
    assert.deepEqual(sceneDiagnostics(editor.document.uri).map(describeDiagnostic), [
      "3:11-3:33 error missing-file: LoRA file 'loras/none.safetensors' not found (paths are relative to the scene's folder)",
    ]);
  });

  test('"output missing" is an Information on the output line until the PNG exists', async () => {
    const editor = await openScene('clean.imgprompt', 'model: tiny-shapes\nprompt: a red circle\nseed: 1\noutput: clean.png\n');
    assert.deepEqual(sceneDiagnostics(editor.document.uri).map(describeDiagnostic), [
      '4:9-4:18 info output-missing: output clean.png has not been rendered yet; save the scene or run "imgprompt: Render" to create it',
    ]);
    await writeWorkspaceFile('clean.png', new Uint8Array([137, 80, 78, 71]));
    await waitFor('the output-missing information to go once the PNG exists', () => sceneDiagnostics(editor.document.uri).length === 0);
  });

  test('diagnostics are cleared when the scene is closed', async () => {
    const editor = await openScene('closing.imgprompt', BROKEN);
    const uri = editor.document.uri;
    await closeAllEditors();
    await waitFor('the closed scene to lose its diagnostics', () => sceneDiagnostics(uri).length === 0, 20_000);
  });
});
