// The ComfyUI backend against a loopback ComfyUI that speaks its protocol and renders with our engine.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackendRequestError, BackendUnavailableError, CancelledError, ComfyUIBackend, createRenderService, jobsForScene, ModelError, readImageMetadata, resolveScene, type RenderJob, type RenderProgress, type RenderService } from '../../src/engine/index';
import { builtinModelsDir, repoRoot } from './fakeEngine';
import { FakeComfyUI } from './fakeComfyUI';

/** A loopback port nothing listens on. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as AddressInfo;
  await new Promise((r) => probe.close(r));
  return port;
}

describe('ComfyUI backend over a loopback ComfyUI', () => {
  let server: FakeComfyUI;
  let service: RenderService;
  const project = mkdtempSync(join(tmpdir(), 'imgprompt-comfy-'));
  mkdirSync(join(project, '.git'));
  copyFileSync(join(repoRoot, 'samples', 'sketch.png'), join(project, 'sketch.png'));

  const jobFor = async (text: string, name = 'scene.imgprompt'): Promise<RenderJob> => {
    const file = join(project, name);
    writeFileSync(file, text);
    const resolved = resolveScene(text, { file, projectRoot: project, builtinModelsDir });
    const [job] = await jobsForScene(resolved, project, service.hashes, service.backend.runtimeVersion);
    return job;
  };
  const scene = (extra = '', steps = 6) => `model: tiny-shapes\nprompt: a large red circle on the left, blue background\nnegative: blurry\nseed: 42\nsteps: ${steps}\nguidance: 7\n${extra}`;
  const backend = (extra: Record<string, unknown> = {}) => new ComfyUIBackend({ name: 'test-comfy', api: 'comfyui', url: server.url, controlnets: { canny: 'control_canny.safetensors' }, ...extra });

  before(async () => {
    server = await new FakeComfyUI({ checkpoints: ['tiny-shapes'], loras: ['outline.safetensors', 'striped.safetensors'], controlnets: { 'control_canny.safetensors': 'canny' }, previews: true }).start();
    service = await createRenderService({ threads: 1 });
  });
  after(async () => {
    await server.close();
    await service.dispose();
    rmSync(project, { recursive: true, force: true });
  });

  test('a scene renders through the protocol: graph queued, progress and previews on /ws, the image from /view; the PNG records the server and the exact graph', async () => {
    const job = await jobFor(scene());
    const events: RenderProgress[] = [];
    const rendered = await service.execute({ jobs: [{ job, freshness: { state: 'missing' } as never }] }, { backend: backend(), force: true, previews: true, events: { onProgress: (_i, _n, p) => events.push(p) } });
    const r = rendered[0].render;
    assert.ok(r);
    assert.equal(r.image.width, job.recipe.width);
    const steps = events.filter((e) => e.phase === 'denoise' && e.step > 0).map((e) => e.step);
    assert.deepEqual([...new Set(steps)], [1, 2, 3, 4, 5, 6], 'one progress message per step');
    assert.ok(events.some((e) => e.preview && e.preview.width > 0), 'a preview frame arrived and decoded');
    // The server rendered with our engine: the pixels equal a local render of the same recipe.
    const local = await service.render(job);
    assert.ok(Buffer.from(local.image.data).equals(Buffer.from(r.image.data)), 'remote pixels differ from the local render of the same recipe');
    const report = readImageMetadata(r.png, 'remote.png');
    const recipe = JSON.parse(report.text.find((t) => t.keyword === 'imgprompt')?.text ?? '{}') as { hash: string; backend?: { api: string; server: string; version: string; request: string; reproducibility: string } };
    assert.equal(recipe.hash, job.hash);
    assert.equal(recipe.backend?.api, 'comfyui');
    assert.equal(recipe.backend?.server, 'test-comfy');
    assert.equal(recipe.backend?.version, '0.3.76');
    assert.equal(recipe.backend?.reproducibility, 'recipe-reproducible');
    const sent = JSON.parse(recipe.backend?.request ?? '{}') as { prompt: Record<string, { class_type: string }>; client_id: string };
    assert.deepEqual(sent.prompt, server.prompts.at(-1), 'the recorded graph is the one the server received');
    assert.ok(!r.png.toString('latin1').includes(server.url), 'the server address stays out of the figure');
  });

  test('LoRAs, ControlNet hints (uploaded through /upload/image) and the negative prompt reach the server', async () => {
    const job = await jobFor(scene('loras:\n  - file: outline\n    weight: 0.8\ncontrol:\n  - type: canny\n    image: sketch.png\n    strength: 0.9\n    end: 0.8\n'));
    await backend().render(job);
    const graph = server.prompts.at(-1) ?? {};
    const byClass = (c: string) => Object.values(graph).filter((n) => n.class_type === c);
    assert.equal(byClass('LoraLoader')[0]?.inputs.lora_name, 'outline.safetensors');
    assert.equal(byClass('LoraLoader')[0]?.inputs.strength_model, 0.8);
    assert.equal(byClass('ControlNetApplyAdvanced')[0]?.inputs.strength, 0.9);
    assert.equal(byClass('ControlNetApplyAdvanced')[0]?.inputs.end_percent, 0.8);
    assert.ok(server.received.some((r) => r.method === 'POST' && r.path === '/upload/image'));
    assert.ok(byClass('CLIPTextEncode').some((n) => n.inputs.text === 'blurry'));
  });

  test('an unknown model name fails before queueing, listing the models the server has', async () => {
    const job = await jobFor(scene());
    const b = new ComfyUIBackend({ name: 'test-comfy', api: 'comfyui', url: server.url, models: { 'tiny-shapes': 'sd_xl_base_1.0.safetensors' } });
    const before = server.prompts.length;
    await assert.rejects(b.render(job), (e: Error) => e instanceof ModelError && /no checkpoint 'sd_xl_base_1\.0\.safetensors'.*available: tiny-shapes/.test(e.message));
    assert.equal(server.prompts.length, before, 'nothing was queued');
  });

  test('cancelling interrupts the server (POST /interrupt) and rejects with CancelledError', async () => {
    const job = await jobFor(scene('', 400), 'long.imgprompt');
    const controller = new AbortController();
    const started = Date.now();
    await assert.rejects(
      backend().render(job, { signal: controller.signal, onProgress: (p) => p.step >= 2 && controller.abort() }),
      CancelledError,
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(server.received.some((r) => r.path === '/interrupt'), 'no /interrupt was sent');
    assert.equal(server.queueRemaining, 0, 'the server is idle again');
    assert.ok(Date.now() - started < 20_000);
  });

  test('a server restart mid-render is reported as retryable (the prompt was lost), not as a hang', async () => {
    const job = await jobFor(scene('', 400), 'restart.imgprompt');
    let restarted = false;
    await assert.rejects(
      backend().render(job, { onProgress: (p) => { if (p.step >= 2 && !restarted) { restarted = true; void server.restart(300); } } }),
      (e: Error) => e instanceof BackendUnavailableError && /restarted mid-render and lost prompt/.test(e.message),
    );
    // After the restart the same backend renders again.
    const again = await backend().render(await jobFor(scene()));
    assert.ok(again.image.width > 0);
  });

  test('a full queue (maxQueue) is refused as retryable; a refused connection names the server', async () => {
    const job = await jobFor(scene('', 120), 'busy.imgprompt');
    const first = backend().render(job);
    await new Promise((r) => setTimeout(r, 300));
    await assert.rejects(backend({ maxQueue: 1 }).render(await jobFor(scene())), (e: Error) => e instanceof BackendUnavailableError && /queue is full/.test(e.message));
    await first;
    const dead = new ComfyUIBackend({ name: 'nobody-home', api: 'comfyui', url: `http://127.0.0.1:${await freePort()}` });
    await assert.rejects(dead.render(job), (e: Error) => e instanceof BackendUnavailableError && /nobody-home.*connection refused/.test(e.message));
  });

  test('a node the server lacks is a clear, non-retryable error', async () => {
    const job = await jobFor(scene());
    const flux = new ComfyUIBackend({ name: 'test-comfy', api: 'comfyui', url: server.url, family: 'flux-schnell' });
    await assert.rejects(flux.render(job), (e: Error) => e instanceof BackendRequestError && /no node 'UNETLoader'/.test(e.message));
  });
});
