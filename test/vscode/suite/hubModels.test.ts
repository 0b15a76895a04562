// A scene naming its model hf:... in the real extension host: saving it downloads the model from the
// loopback hub (test/fakes/fakeHub.ts) into an empty Hugging Face cache, then renders, and imgprompt.lock
// appears at the workspace root with the commit the hub resolved.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { readImageMetadata } from '../../../src/engine/interop/readImageMetadata';
import { FakeHub, fakeCommit } from '../../fakes/fakeHub';
import { folderFiles } from '../../fakes/fakeHubRepos';
import { closeAllEditors, EXTENSION_ID, waitFor, workspaceFile } from './helpers';
import { resetModelPaths, writeWorkspaceFile } from './languageSupport';

suite('models by name in the editor', () => {
  const hub = new FakeHub();
  const commit = fakeCommit();
  const saved: Record<string, string | undefined> = {};
  let cache: string;

  suiteSetup(async () => {
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension);
    await extension.activate();
    hub.addRepo({ repo: 'imgprompt/tiny-shapes', refs: { main: commit }, commits: { [commit]: folderFiles(join(extension.extensionPath, 'models', 'tiny-shapes')) }, license: 'mit' });
    await hub.start();
    cache = mkdtempSync(join(tmpdir(), 'imgprompt-vscode-hub-'));
    // The extension reads these per download and per analysis, so setting them here points it at the fake.
    for (const [key, value] of Object.entries({ HF_ENDPOINT: hub.hubUrl, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: undefined })) {
      saved[key] = process.env[key];
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await resetModelPaths();
    await vscode.workspace.getConfiguration('imgprompt').update('renderOnSave', true, vscode.ConfigurationTarget.Workspace);
  });
  suiteTeardown(async () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await hub.stop();
    rmSync(cache, { recursive: true, force: true });
    rmSync(workspaceFile('imgprompt.lock').fsPath, { force: true });
  });
  teardown(closeAllEditors);

  test('saving a scene with model: hf:... downloads it, renders, and writes imgprompt.lock', async () => {
    const text = 'model: hf:imgprompt/tiny-shapes\nprompt: a large red circle on the left, blue background\nseed: 3\nsteps: 3\n';
    const scene = await writeWorkspaceFile('hub/by-name.imgprompt', text);
    const png = workspaceFile('hub', 'by-name.png');
    const editor = await vscode.window.showTextDocument(scene);
    assert.ok(await editor.edit((b) => b.insert(new vscode.Position(3, 0), 'purpose: the hub test\n')));
    for (let attempt = 0; attempt < 3 && editor.document.isDirty; attempt++) {
      await vscode.commands.executeCommand('hideSuggestWidget');
      await editor.document.save();
    }
    assert.equal(editor.document.isDirty, false, 'the save failed');
    await waitFor('the PNG rendered from the downloaded model', () => existsSync(png.fsPath), 90_000);
    assert.ok(hub.requests('cdn', 'GET').length > 0, 'the weights came from the loopback CDN');
    const lock = JSON.parse(readFileSync(workspaceFile('imgprompt.lock').fsPath, 'utf8'));
    assert.equal(lock.models['hf:imgprompt/tiny-shapes@main'].commit, commit);
    const report = readImageMetadata(readFileSync(png.fsPath), png.fsPath);
    assert.equal((report.recipe as { model?: { name?: string } } | undefined)?.model?.name, 'hf:imgprompt/tiny-shapes@main');
  });
});
