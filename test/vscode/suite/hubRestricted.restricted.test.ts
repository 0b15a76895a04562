// Models by name in Restricted Mode: saving a scene whose model is hf:... downloads nothing (the loopback
// hub sees no request), writes no imgprompt.lock and no PNG; the scene says the model is not downloaded.
/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { FakeHub, fakeCommit } from '../../fakes/fakeHub';
import { folderFiles } from '../../fakes/fakeHubRepos';
import { closeAllEditors, EXTENSION_ID, waitFor, workspaceFile } from './helpers';
import { sceneDiagnostics, writeWorkspaceFile } from './languageSupport';

suite('models by name in Restricted Mode', () => {
  const hub = new FakeHub();
  const saved: Record<string, string | undefined> = {};
  let cache: string;

  suiteSetup(async () => {
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension);
    await extension.activate();
    const commit = fakeCommit();
    hub.addRepo({ repo: 'imgprompt/tiny-shapes', refs: { main: commit }, commits: { [commit]: folderFiles(join(extension.extensionPath, 'models', 'tiny-shapes')) }, license: 'mit' });
    await hub.start();
    cache = mkdtempSync(join(tmpdir(), 'imgprompt-vscode-hub-restricted-'));
    for (const [key, value] of Object.entries({ HF_ENDPOINT: hub.hubUrl, HF_HUB_CACHE: cache })) {
      saved[key] = process.env[key];
      process.env[key] = value;
    }
  });
  suiteTeardown(async () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await hub.stop();
    rmSync(cache, { recursive: true, force: true });
  });
  teardown(closeAllEditors);

  test('saving a scene with model: hf:... downloads nothing and writes no lockfile', async () => {
    assert.equal(vscode.workspace.isTrusted, false);
    const scene = await writeWorkspaceFile('hub-restricted/by-name.imgprompt', 'model: hf:imgprompt/tiny-shapes\nprompt: a red circle\nseed: 3\nsteps: 3\n');
    const editor = await vscode.window.showTextDocument(scene);
    await waitFor('the not-downloaded diagnostic', () => sceneDiagnostics(scene).some((d) => d.code === 'model-not-downloaded'));
    assert.ok(await editor.edit((b) => b.insert(new vscode.Position(3, 0), 'purpose: restricted\n')));
    assert.ok(await editor.document.save(), 'the save failed');
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    assert.deepEqual(hub.log, [], 'the hub was asked in Restricted Mode');
    assert.equal(existsSync(workspaceFile('imgprompt.lock').fsPath), false, 'imgprompt.lock was written in Restricted Mode');
    assert.equal(existsSync(workspaceFile('hub-restricted', 'by-name.png').fsPath), false, 'a PNG was written in Restricted Mode');
  });
});
