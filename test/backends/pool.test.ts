// The render pool over loopback servers (retry elsewhere when one dies, per-server concurrency, summary),
// `--shard i/n`, and `imgprompt render --backend` / `verify` end to end in-process.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { ComfyUIBackend, createRenderService, executePool, parseShard, readImageMetadata, shardFiles, type PlannedJob, type RenderService } from '../../src/engine/index';
import { FakeComfyUI } from './fakeComfyUI';
import { FakeA1111 } from './fakeA1111';

describe('shards', () => {
  test('i/n shards are disjoint, cover every scene, differ by at most one, and ignore argument order', () => {
    const root = '/p';
    const files = Array.from({ length: 11 }, (_, i) => `/p/docs/fig-${String(i).padStart(2, '0')}.imgprompt`);
    const shards = [1, 2, 3].map((i) => shardFiles(files, root, parseShard(`${i}/3`)));
    assert.deepEqual(shards.flat().sort(), [...files].sort());
    assert.ok(shards.every((s) => s.length === 3 || s.length === 4));
    assert.deepEqual(shardFiles([...files].reverse(), root, parseShard('2/3')).sort(), [...shards[1]].sort());
    assert.throws(() => parseShard('0/3'), /1 ≤ i ≤ n/);
    assert.throws(() => parseShard('4/3'), /1 ≤ i ≤ n/);
    assert.throws(() => parseShard('two/3'), /i\/n/);
  });
});

describe('render pool over loopback servers', () => {
  let a: FakeComfyUI;
  let webui: FakeA1111;
  let service: RenderService;
  const project = mkdtempSync(join(tmpdir(), 'imgprompt-pool-'));
  mkdirSync(join(project, '.git'));
  const sceneText = (i: number, steps = 6) => `model: tiny-shapes\nprompt: a large red circle, figure ${i}\nseed: ${i}\nsteps: ${steps}\n`;
  const plan = async (count: number, steps = 6): Promise<PlannedJob[]> => {
    const jobs: PlannedJob[] = [];
    for (let i = 0; i < count; i++) {
      const file = join(project, `pool-${i}.imgprompt`);
      writeFileSync(file, sceneText(i, steps));
      const p = await service.plan({ file, context: { projectRoot: project, builtinModelsDir: join(__dirname, '..', '..', 'models') } });
      jobs.push(...p.jobs);
    }
    return jobs;
  };

  before(async () => {
    a = await new FakeComfyUI({ checkpoints: ['tiny-shapes'] }).start();
    webui = await new FakeA1111({ checkpoints: ['tiny-shapes'] }).start();
    service = await createRenderService({ threads: 1 });
  });
  after(async () => {
    await Promise.all([a.close(), webui.close()]);
    await service.dispose();
    rmSync(project, { recursive: true, force: true });
  });

  test('jobs spread over the members; a server that dies mid-run has its jobs retried on the others; the summary counts them', async () => {
    const jobs = await plan(6, 20);
    const doomed = new FakeComfyUI({ checkpoints: ['tiny-shapes'] });
    await doomed.start();
    let killed = false;
    const { results, summary } = await executePool(
      jobs,
      [
        { label: 'a', backend: new ComfyUIBackend({ name: 'a', api: 'comfyui', url: a.url }), concurrency: 1 },
        { label: 'doomed', backend: new ComfyUIBackend({ name: 'doomed', api: 'comfyui', url: doomed.url, timeoutMs: 1500 }), concurrency: 1 },
      ],
      { force: true, events: { onProgress: (_job, member, p) => { if (member === 'doomed' && p.step >= 2 && !killed) { killed = true; void doomed.close(); } } } },
    );
    assert.equal(summary.failed, 0, results.map((r) => r.error?.message).join('; '));
    assert.equal(summary.rendered, 6);
    const byLabel = Object.fromEntries(summary.members.map((m) => [m.label, m]));
    assert.ok(byLabel.doomed.retried >= 1, 'the dead server\'s job was not retried');
    assert.equal(byLabel.a.rendered + byLabel.doomed.rendered, 6);
    assert.ok(results.some((r) => r.member === 'a' && r.attempts === 2), 'a retried job finished on the other server');
    for (const r of results) {
      const recipe = readImageMetadata(readFileSync(r.planned.job.output), 'x').recipe as { backend?: { server?: string } };
      assert.equal(recipe.backend?.server, r.member);
    }
  });

  test('imgprompt render --backend over a ComfyUI and an A1111 server from imgprompt.backends.json, then verify says recipe-reproducible', async () => {
    const dir = join(project, 'cli');
    mkdirSync(join(dir, '.git'), { recursive: true });
    for (let i = 0; i < 4; i++) writeFileSync(join(dir, `f${i}.imgprompt`), sceneText(i));
    writeFileSync(join(dir, 'imgprompt.backends.json'), JSON.stringify({ servers: { comfy: { api: 'comfyui', url: a.url, concurrency: 1 }, webui: { api: 'a1111', url: webui.url } } }));
    let out = '';
    let err = '';
    const io = { stdout: (s: string) => (out += s), stderr: (s: string) => (err += s), isTTY: false, cwd: dir, env: { ...process.env, IMGPROMPT_CACHE_DIR: join(dir, '.cache') } };
    const code = await main(['render', '--backend', 'comfy,webui', '.'], io, new AbortController().signal);
    assert.equal(code, 0, out + err);
    assert.match(out, /pool: 4 rendered, 0 up to date, 0 failed/);
    assert.match(out, /comfy: \d rendered/);
    assert.match(out, /f0\.png: rendered on (comfy|webui)/);
    out = '';
    assert.equal(await main(['verify', '.'], io, new AbortController().signal), 0, out + err);
    assert.match(out, /f0\.png: up to date; recipe-reproducible \(rendered on (comfy|webui), (comfyui 0\.3\.76|a1111 v1\.10\.1)/);
    out = '';
    assert.equal(await main(['render', '--backend', 'nosuch', '.'], io, new AbortController().signal), 1);
    assert.match(err, /no server named 'nosuch' \(known: local, comfy, webui/);
  });

  test('a scene naming a server with `backend:` renders there without --backend; flow-model keys are refused on this machine', async () => {
    const dir = join(project, 'scene-backend');
    mkdirSync(join(dir, '.git'), { recursive: true });
    writeFileSync(join(dir, 'imgprompt.backends.json'), JSON.stringify({ servers: { comfy: { api: 'comfyui', url: a.url } } }));
    writeFileSync(join(dir, 'remote.imgprompt'), `${sceneText(7)}backend: comfy\n`);
    writeFileSync(join(dir, 'shifted.imgprompt'), `${sceneText(8)}shift: 3\n`);
    let out = '';
    let err = '';
    const io = { stdout: (s: string) => (out += s), stderr: (s: string) => (err += s), isTTY: false, cwd: dir, env: { ...process.env, IMGPROMPT_CACHE_DIR: join(dir, '.cache') } };
    const before = a.prompts.length;
    assert.equal(await main(['render', 'remote.imgprompt'], io, new AbortController().signal), 0, out + err);
    assert.equal(a.prompts.length, before + 1, 'the server did not receive the scene');
    const recipe = readImageMetadata(readFileSync(join(dir, 'remote.png')), 'remote.png').recipe as { backend?: { server?: string } };
    assert.equal(recipe.backend?.server, 'comfy');
    assert.equal(await main(['render', 'shifted.imgprompt'], io, new AbortController().signal), 1);
    assert.match(err, /shift 3 does not apply to sd models/);
  });
});
