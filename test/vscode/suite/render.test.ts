// Rendering in the real extension host with the embedded model: render on save writes a PNG carrying its
// recipe, a second save during a render cancels it and renders the newer text, and the output's state
// reaches the scene's diagnostics.
import * as assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { readImageMetadata } from '../../../src/engine/interop/readImageMetadata';
import { encodePixelsToPng } from '../../../src/engine/output/encodePng';
import type { ImgpromptApi } from '../../../src/extension/extension';
import { childProcessesRunning, closeAllEditors, EXTENSION_ID, waitFor, workspaceFile } from './helpers';
import { resetModelPaths, writeWorkspaceFile } from './languageSupport';

async function api(): Promise<ImgpromptApi> {
  const extension = vscode.extensions.getExtension<ImgpromptApi>(EXTENSION_ID);
  assert.ok(extension);
  return extension.activate();
}

async function storedRecipe(png: vscode.Uri): Promise<Record<string, unknown> | undefined> {
  try {
    return readImageMetadata(await readFile(png.fsPath), png.fsPath).recipe as Record<string, unknown> | undefined;
  } catch {
    return undefined;
  }
}

/** Replaces the whole text of the editor's document and saves it. */
async function editAndSave(editor: vscode.TextEditor, text: string): Promise<void> {
  const all = new vscode.Range(0, 0, editor.document.lineCount, 0);
  assert.ok(await editor.edit((b) => b.replace(all, text)));
  // A suggest widget opened by the edit can swallow a save; close it and retry, as a user would.
  for (let attempt = 0; attempt < 3 && editor.document.isDirty; attempt++) {
    await vscode.commands.executeCommand('hideSuggestWidget');
    await editor.document.save();
  }
  assert.equal(editor.document.isDirty, false, 'the save failed');
}

suite('rendering with the embedded model', () => {
  suiteSetup(async () => {
    // The fixture model folders hold configs only; render with the real built-in tiny-shapes.
    await resetModelPaths();
    await vscode.workspace.getConfiguration('imgprompt').update('renderOnSave', true, vscode.ConfigurationTarget.Workspace);
  });
  teardown(closeAllEditors);

  test('saving a scene renders its PNG with recipe, seed and AI disclosure', async () => {
    const scene = await writeWorkspaceFile('render/save.imgprompt', 'model: tiny-shapes\nprompt: a large red circle on the left, blue background\nseed: 3\nsteps: 8\n');
    const png = workspaceFile('render', 'save.png');
    const editor = await vscode.window.showTextDocument(scene);
    const started = Date.now();
    await editAndSave(editor, 'model: tiny-shapes\nprompt: a large green circle on the left, blue background\nseed: 3\nsteps: 8\n');
    await waitFor('the rendered PNG', async () => (await storedRecipe(png))?.prompt === 'a large green circle on the left, blue background', 60_000);
    console.log(`      save → PNG on disk: ${Date.now() - started} ms (first render includes starting the worker and loading the model)`);
    const report = readImageMetadata(await readFile(png.fsPath), png.fsPath);
    assert.equal(report.provenance.aiGenerated, true);
    assert.equal(String(report.metadata?.seed), '3');
    assert.equal(report.recipe?.scene, 'render/save.imgprompt');
    // The render ran in the worker process below this extension host (what the Restricted Mode suite
    // checks is absent), through a worker client the queue counted.
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension);
    const workers = childProcessesRunning(join(extension.extensionPath, 'out', 'worker.js'));
    assert.ok(workers.length >= 1, 'no render worker process below the extension host: the Restricted Mode suite\'s probe would see nothing');
    assert.ok((await api()).renderWorkerStarts >= 1);
    // A second save of unchanged pixels is a no-op render (up to date), and the PNG is untouched.
    const before = await readFile(png.fsPath);
    await editAndSave(editor, 'model: tiny-shapes\nprompt: a large green circle on the left, blue background\nseed: 3\nsteps: 8\npurpose: why\n');
    const warmStart = Date.now();
    await editAndSave(editor, 'model: tiny-shapes\nprompt: a large green circle on the right, blue background\nseed: 3\nsteps: 8\npurpose: why\n');
    await waitFor('the re-rendered PNG', async () => (await storedRecipe(png))?.prompt === 'a large green circle on the right, blue background', 30_000);
    console.log(`      warm save → PNG on disk: ${Date.now() - warmStart} ms`);
    assert.ok(!before.equals(await readFile(png.fsPath)));
  });

  test('a scene with a shipped LoRA and a scribble hint renders; with imgprompt.saveHints the hint the ControlNet saw lands beside the figure', async () => {
    const config = vscode.workspace.getConfiguration('imgprompt');
    await config.update('saveHints', true, vscode.ConfigurationTarget.Workspace);
    try {
      // A white square outline on black: the scribble.
      const size = 64;
      const pixels = Buffer.alloc(size * size * 3);
      for (let y = 8; y < 40; y++) for (let x = 8; x < 40; x++) if (y < 11 || y > 36 || x < 11 || x > 36) pixels.fill(255, 3 * (y * size + x), 3 * (y * size + x) + 3);
      await writeWorkspaceFile('render/sketch.png', await encodePixelsToPng({ data: pixels, width: size, height: size, channels: 3 }));
      const text = 'model: tiny-shapes\nprompt: outline, a large red square, blue background\nseed: 4\nsteps: 8\nloras:\n  - file: outline\ncontrol:\n  - type: scribble\n    image: sketch.png\n';
      const scene = await writeWorkspaceFile('render/adapters.imgprompt', 'model: tiny-shapes\nprompt: x\n');
      const editor = await vscode.window.showTextDocument(scene);
      await editAndSave(editor, text);
      const png = workspaceFile('render', 'adapters.png');
      await waitFor('the rendered PNG', async () => (await storedRecipe(png))?.prompt === 'outline, a large red square, blue background', 60_000);
      const recipe = (await storedRecipe(png))!;
      assert.equal((recipe.loras as { file: string }[])[0].file, 'tiny-shapes/loras/outline.safetensors');
      assert.equal((recipe.control as { net: { folder: string } }[])[0].net.folder, 'controlnet/canny');
      const hint = workspaceFile('render', 'adapters.hint-1.png');
      await waitFor('the saved hint', async () => (await vscode.workspace.fs.stat(hint).then(() => true, () => false)), 10_000);
    } finally {
      await config.update('saveHints', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });

  test('a second save during a render cancels it and renders the newer scene', async () => {
    const { renderEvents } = await api();
    // A long first render (many steps at twice the native size) so the second save surely lands during it.
    const long = 'model: tiny-shapes\nprompt: a small white square at the top, black background\nseed: 1\nsize: {width: 256, height: 256}\nsteps: 500\n';
    const scene = await writeWorkspaceFile('render/restart.imgprompt', long);
    const png = workspaceFile('render', 'restart.png');
    const editor = await vscode.window.showTextDocument(scene);
    const cancelled: string[] = [];
    const steps: number[] = [];
    const subscriptions = [
      renderEvents.onDidFail((f) => f.cancelled && cancelled.push(f.scene.toString())),
      renderEvents.onDidStep((s) => s.scene.toString() === scene.toString() && steps.push(s.step)),
    ];
    try {
      await editAndSave(editor, `${long}# first\n`);
      await waitFor('the first render to be under way', () => steps.length >= 2, 60_000);
      await editAndSave(editor, 'model: tiny-shapes\nprompt: a small white square at the top, black background\nseed: 2\nsteps: 6\n');
      await waitFor('the newer render', async () => (await storedRecipe(png))?.seed === '2', 60_000);
      assert.deepEqual(cancelled, [scene.toString()], 'the first render was not cancelled');
    } finally {
      subscriptions.forEach((s) => s.dispose());
    }
  });
});
