// The editor's path: the render worker (out/worker.js, as the extension forks it) renders a scene that
// names a server with `backend:` on that server, reading the project's imgprompt.backends.json.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RenderWorkerClient } from '../../src/engine/index';
import { builtinModelsDir, repoRoot } from './fakeEngine';
import { FakeComfyUI } from './fakeComfyUI';

describe('render worker with a scene naming a server', () => {
  let server: FakeComfyUI;
  let client: RenderWorkerClient;
  const project = mkdtempSync(join(tmpdir(), 'imgprompt-worker-backend-'));
  mkdirSync(join(project, '.git'));

  before(async () => {
    // Build the worker bundle from this checkout, so the test runs the code under test.
    const build = spawnSync(process.execPath, [join(repoRoot, 'esbuild.mjs')], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
    server = await new FakeComfyUI({ checkpoints: ['tiny-shapes'] }).start();
    client = new RenderWorkerClient({ workerScript: join(repoRoot, 'out', 'worker.js'), threads: 1 });
  });
  after(async () => {
    await client.dispose();
    await server.close();
    rmSync(project, { recursive: true, force: true });
  });

  test('the worker sends the scene to the named server; the result carries its provenance; an unknown name is an error naming the file', async () => {
    writeFileSync(join(project, 'imgprompt.backends.json'), JSON.stringify({ servers: { comfy: { api: 'comfyui', url: server.url } } }));
    const file = join(project, 'remote.imgprompt');
    writeFileSync(file, 'model: tiny-shapes\nprompt: a large red circle\nseed: 5\nsteps: 4\nbackend: comfy\n');
    const scene = { file, projectRoot: project, modelSearchPaths: [], builtinModelsDir };
    const steps: number[] = [];
    const result = await client.render({ scene }, { onProgress: (p) => p.progress.phase === 'denoise' && steps.push(p.progress.step) });
    assert.equal(result.jobs[0].state, 'rendered');
    assert.equal(server.prompts.length, 1);
    assert.ok(steps.includes(4), 'progress from the server reached the worker client');
    assert.equal((result.jobs[0].metadata as { backend?: { server?: string } }).backend?.server, 'comfy');
    writeFileSync(file, 'model: tiny-shapes\nprompt: a large red circle\nseed: 5\nsteps: 4\nbackend: elsewhere\n');
    await assert.rejects(client.render({ scene, force: true }), /no render server named 'elsewhere' \(named: comfy\)/);
  });
});
