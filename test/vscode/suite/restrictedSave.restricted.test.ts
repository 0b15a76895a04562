// Render on save in Restricted Mode (run by the restricted phase of scripts/vscode-test/run.mjs, in a
// folder VS Code has not trusted): a scene edited and saved through the real editor starts no render
// worker process and writes no PNG, while its diagnostics keep working. Issue #15, defect 1: the save
// path of the render queue used to reach the worker without passing the trust gate.
/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { ImgpromptApi } from '../../../src/extension/extension';
import type { Renderer } from '../../../src/extension/render/renderer';
import { EXTENSION_ID, childProcessesRunning, closeAllEditors, waitFor, workspaceFile } from './helpers';
import { describeDiagnostic, sceneDiagnostics, writeWorkspaceFile } from './languageSupport';

/** Far longer than the render queue's save debounce (150 ms): a render would have started by then. */
const WATCH_MS = 4_000;

suite('render on save in Restricted Mode', () => {
  teardown(closeAllEditors);

  test('saving an edited scene in an untrusted folder starts no render worker and writes no PNG; diagnostics still appear', async () => {
    assert.equal(vscode.workspace.isTrusted, false);
    const extension = vscode.extensions.getExtension<ImgpromptApi>(EXTENSION_ID);
    assert.ok(extension);
    const api = await extension.activate();
    const workerScript = join(extension.extensionPath, 'out', 'worker.js');
    assert.ok(existsSync(workerScript), `${workerScript} is not built`);
    assert.equal(vscode.workspace.getConfiguration('imgprompt').get('renderOnSave'), true, 'render on save must be on for this test to mean anything');
    assert.deepEqual(childProcessesRunning(workerScript), [], 'a render worker was running before the test');

    // A scene the embedded model renders in well under a second once trusted.
    const text = 'model: tiny-shapes\nprompt: a large red circle on the left, blue background\nseed: 3\nsteps: 4\noutput: before.png\n';
    const scene = await writeWorkspaceFile('restricted-save/scene.imgprompt', text);
    const folder = workspaceFile('restricted-save');
    const document = await vscode.workspace.openTextDocument(scene);
    await vscode.window.showTextDocument(document);
    await waitFor('the output-missing diagnostic of the new scene', () => sceneDiagnostics(scene).some((d) => d.code === 'output-missing'));

    // Edit through the editor's document and save it, as a user's Ctrl+S does.
    const edit = new vscode.WorkspaceEdit();
    const value = text.indexOf('before.png');
    edit.replace(scene, new vscode.Range(document.positionAt(value), document.positionAt(value + 'before.png'.length)), 'after.png');
    assert.ok(await vscode.workspace.applyEdit(edit));
    assert.ok(document.isDirty);
    assert.ok(await document.save(), 'the save failed');
    assert.equal(document.isDirty, false);

    // Watch the process table the whole time, not only at the end: a worker that started and died counts.
    const seen = new Set<string>();
    const states = new Set<string>();
    const subscription = api.renderer.onDidChangeState((change) => states.add(change.state.kind));
    try {
      const until = Date.now() + WATCH_MS;
      while (Date.now() < until) {
        for (const p of childProcessesRunning(workerScript)) seen.add(p);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      subscription.dispose();
    }
    assert.deepEqual([...seen], [], 'a render worker process was started in Restricted Mode');
    const pngs = readdirSync(folder.fsPath).filter((name) => name.endsWith('.png'));
    assert.deepEqual(pngs, [], 'a PNG was written in Restricted Mode');
    const output = api.analyzer.outputPath(document);
    assert.ok(output !== undefined && output.endsWith('after.png'), `the scene's output is ${output}`);
    assert.equal(existsSync(output), false, `${output} was written in Restricted Mode`);
    assert.deepEqual([...states], [], 'the save queued a render in Restricted Mode');
    assert.deepEqual(api.renderer.stateOf(scene), { kind: 'idle' });
    assert.equal(api.renderWorkerStarts, 0, 'a render worker client was created in Restricted Mode');

    // Diagnostics follow the saved text: the missing output is now after.png, at its exact range.
    await waitFor('the diagnostic to name after.png', () => sceneDiagnostics(scene).some((d) => d.message.includes('after.png')));
    assert.deepEqual(sceneDiagnostics(scene).map(describeDiagnostic), [
      '5:9-5:18 info output-missing: output restricted-save/after.png has not been rendered yet; rendering needs a trusted workspace',
    ]);
  });

  test('below TrustedRenderer, the render queue itself refuses to start a worker: render, render on save, Render All', async () => {
    const extension = vscode.extensions.getExtension<ImgpromptApi>(EXTENSION_ID);
    assert.ok(extension);
    const api = await extension.activate();
    const workerScript = join(extension.extensionPath, 'out', 'worker.js');
    const scene = await writeWorkspaceFile('restricted-queue/scene.imgprompt', 'model: tiny-shapes\nprompt: a blue square\nseed: 5\nsteps: 4\n');
    // The render events come from the RenderQueue, the Renderer that TrustedRenderer wraps: asking it
    // directly is how any path that skipped TrustedRenderer (as render on save did) would reach the worker.
    const queue = api.renderEvents as unknown as Renderer;
    assert.notEqual(queue, api.renderer);
    await assert.rejects(queue.render(scene, 'command'), /does not render in Restricted Mode/);
    await assert.rejects(queue.render(scene, 'save'), /does not render in Restricted Mode/);
    const all = new vscode.CancellationTokenSource();
    await queue.renderAll([scene], all.token);
    all.dispose();
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(childProcessesRunning(workerScript), [], 'a render worker process was started in Restricted Mode');
    assert.equal(api.renderWorkerStarts, 0, 'a render worker client was created in Restricted Mode');
    assert.deepEqual(readdirSync(workspaceFile('restricted-queue').fsPath).filter((name) => name.endsWith('.png')), []);
  });
});
