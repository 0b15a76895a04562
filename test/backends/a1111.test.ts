// The A1111-compatible backend against a loopback webui API that renders with our engine.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { A1111Backend, BackendUnavailableError, CancelledError, createRenderService, jobsForScene, ModelError, resolveScene, type RenderJob, type RenderProgress, type RenderService } from '../../src/engine/index';
import { builtinModelsDir, repoRoot } from './fakeEngine';
import { FakeA1111 } from './fakeA1111';

describe('A1111 backend over a loopback webui API', () => {
  let server: FakeA1111;
  let service: RenderService;
  const project = mkdtempSync(join(tmpdir(), 'imgprompt-a1111-'));
  mkdirSync(join(project, '.git'));
  copyFileSync(join(repoRoot, 'samples', 'sketch.png'), join(project, 'sketch.png'));
  const jobFor = async (text: string, name = 'scene.imgprompt'): Promise<RenderJob> => {
    const file = join(project, name);
    writeFileSync(file, text);
    const [job] = await jobsForScene(resolveScene(text, { file, projectRoot: project, builtinModelsDir }), project, service.hashes, service.backend.runtimeVersion);
    return job;
  };
  const scene = (extra = '', steps = 6) => `model: tiny-shapes\nprompt: a large red circle on the left, blue background\nseed: 42\nsteps: ${steps}\nguidance: 7\n${extra}`;
  const backend = () => new A1111Backend({ name: 'test-webui', api: 'a1111', url: server.url, controlnets: { canny: 'control_v11p_sd15_canny [d14c016b]' } });

  before(async () => {
    server = await new FakeA1111({ checkpoints: ['tiny-shapes'], controlnets: { 'control_v11p_sd15_canny [d14c016b]': 'canny' } }).start();
    service = await createRenderService({ threads: 1 });
  });
  after(async () => {
    await server.close();
    await service.dispose();
    rmSync(project, { recursive: true, force: true });
  });

  test('txt2img: model via override_settings, progress and previews from /sdapi/v1/progress, pixels equal to a local render, provenance with the exact payload', async () => {
    // Watermark off: the server returns the model's pixels, and the local render would mark its own.
    const job = await jobFor(scene('watermark: off\n', 24));
    const events: RenderProgress[] = [];
    const r = await backend().render(job, { previews: true, onProgress: (p) => events.push(p) });
    const local = await service.render(job);
    assert.ok(Buffer.from(local.image.data).equals(Buffer.from(r.image.data)), 'remote pixels differ from the local render of the same recipe');
    const payload = server.payloads.at(-1) ?? {};
    assert.deepEqual(payload.override_settings, { sd_model_checkpoint: 'tiny-shapes' });
    assert.equal(payload.sampler_name, 'Euler');
    assert.equal(payload.cfg_scale, 7);
    assert.ok(events.some((e) => e.phase === 'denoise' && e.step > 0 && e.total === 24), 'no step progress was polled');
    assert.ok(events.some((e) => e.preview), 'no preview image arrived');
    assert.equal(r.provenance?.api, 'a1111');
    assert.equal(r.provenance?.version, 'v1.10.1');
    assert.deepEqual((JSON.parse(r.provenance?.request ?? '{}') as { payload: unknown }).payload, payload);
  });

  test('img2img, LoRA prompt tags and a ControlNet unit in alwayson_scripts', async () => {
    const job = await jobFor(scene('loras:\n  - file: outline\n    weight: 0.7\ncontrol:\n  - type: canny\n    image: sketch.png\ninit:\n  image: sketch.png\n  strength: 0.6\n'));
    await backend().render(job);
    const payload = server.payloads.at(-1) ?? {};
    assert.ok(server.received.includes('POST /sdapi/v1/img2img'));
    assert.match(String(payload.prompt), /<lora:outline:0\.7>$/);
    assert.equal(payload.denoising_strength, 0.6);
    const unit = (payload.alwayson_scripts as { controlnet: { args: Record<string, unknown>[] } }).controlnet.args[0];
    assert.deepEqual([unit.enabled, unit.model, unit.module, unit.weight], [true, 'control_v11p_sd15_canny [d14c016b]', 'none', 1]);
  });

  test('an unknown checkpoint lists the installed ones; nothing is rendered', async () => {
    const job = await jobFor(scene());
    const b = new A1111Backend({ name: 'test-webui', api: 'a1111', url: server.url, models: { 'tiny-shapes': 'dreamshaper_8' } });
    const before = server.payloads.length;
    await assert.rejects(b.render(job), (e: Error) => e instanceof ModelError && /no checkpoint 'dreamshaper_8'; available: tiny-shapes\.safetensors \[0123456789\]/.test(e.message));
    assert.equal(server.payloads.length, before);
  });

  test('cancelling calls /sdapi/v1/interrupt and rejects with CancelledError', async () => {
    const job = await jobFor(scene('', 400), 'long.imgprompt');
    const controller = new AbortController();
    await assert.rejects(backend().render(job, { signal: controller.signal, onProgress: (p) => p.step >= 1 && controller.abort() }), CancelledError);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(server.received.includes('POST /sdapi/v1/interrupt'));
  });

  test('a server going down mid-render and a refused connection are retryable errors naming the server', async () => {
    const job = await jobFor(scene('', 400), 'down.imgprompt');
    let killed = false;
    await assert.rejects(
      backend().render(job, { onProgress: (p) => { if (p.step >= 1 && !killed) { killed = true; void server.kill(); } } }),
      (e: Error) => e instanceof BackendUnavailableError && /test-webui/.test(e.message),
    );
    await assert.rejects(backend().render(job), (e: Error) => e instanceof BackendUnavailableError && /connection refused/.test(e.message));
    await server.start();
  });
});
