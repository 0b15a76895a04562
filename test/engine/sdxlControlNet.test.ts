// ControlNet-XL end to end on the seeded random-weight toy (tools/sdxl_random): the toy SDXL ControlNet
// (make_controlnet.py) steers the toy UNet as converted by our checkpoint builder (which gives a UNet the
// `down_block_additional_residual_{i}` / `mid_block_additional_residual` inputs). The UNet's residual
// wiring equals PyTorch's (the same UNet with the same residuals added where diffusers adds them); a
// `control:` scene renders through both; strength 0 renders exactly what no control renders; the
// torch-exported optimum folder, which has no residual inputs, refuses a hint with an error that says so.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertDiffusersFolder } from '../../src/engine/checkpoint';
import { ControlNet } from '../../src/engine/control/controlNet';
import { createRenderService, type RenderService, type RGBImage } from '../../src/engine/index';
import { readSafetensors } from '../../src/engine/lora';
import { acquireComponent } from '../../src/engine/model/componentLease';
import { UNet } from '../../src/engine/model/unet';
import { encodePixelsToPng } from '../../src/engine/output/encodePng';
import { SessionCache } from '../../src/engine/onnx/sessionCache';
import { floatTensor, type FloatTensor } from '../../src/engine/onnx/tensor';
import { ensureSdxlControlNet, ensureSdxlRandom, sdxlReferenceUnavailable } from '../scale/sdxlRandom';
import { relativeError } from './relativeError';

const skip = sdxlReferenceUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'imgprompt-sdxl-controlnet-'));
const project = join(dir, 'project');
const converted = join(project, 'models', 'sdxl-converted');
let controlNet = { dir: '', reference: '' };
let service: RenderService | undefined;
const sessions = new SessionCache();

before(async () => {
  if (skip) return;
  const files = ensureSdxlRandom('toy');
  controlNet = ensureSdxlControlNet();
  mkdirSync(join(project, '.git'), { recursive: true });
  mkdirSync(join(project, 'models'), { recursive: true });
  cpSync(files.onnx, join(project, 'models', 'sdxl-optimum'), { recursive: true });
  cpSync(controlNet.dir, join(project, 'controlnet-xl'), { recursive: true });
  // The builder's SDXL UNet graph, with residual inputs (about a second at toy scale).
  await convertDiffusersFolder(files.diffusers, { out: converted });
  // The hint: a bright ring and a bar on black, at the output size.
  const width = 128;
  const height = 96;
  const hint = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const r = Math.hypot(x - 40, y - 48);
      if ((r > 18 && r < 26) || (x > 84 && x < 110 && y > 20 && y < 76)) hint.fill(255, 3 * (y * width + x), 3 * (y * width + x) + 3);
    }
  }
  writeFileSync(join(project, 'hint.png'), await encodePixelsToPng({ data: hint, width, height, channels: 3 }));
});
after(async () => {
  await service?.dispose();
  await sessions.clear();
  rmSync(dir, { recursive: true, force: true });
});

async function render(extra: string, model = 'sdxl-converted'): Promise<RGBImage> {
  service ??= await createRenderService({ threads: 2 });
  const text = `model: ./models/${model}\nprompt: a red square on a blue background\nseed: 5\nsteps: 4\nguidance: 6\nsampler: euler\nsize: {width: 128, height: 96}\nwatermark: off\n${extra}`;
  const file = join(project, `scene-${Math.random().toString(36).slice(2)}.imgprompt`);
  writeFileSync(file, text);
  const plan = await service.plan({ file, context: { projectRoot: project } });
  assert.ok(plan.jobs[0], `no job planned for ${file}: ${JSON.stringify(plan, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).slice(0, 1500)}`);
  return (await service.render(plan.jobs[0].job)).image;
}

const control = (strength: number) => `control:\n  - type: raw\n    image: hint.png\n    model: ./controlnet-xl\n    strength: ${strength}\n`;

function meanAbsDiff(a: RGBImage, b: RGBImage): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i] - b.data[i]);
  return sum / a.data.length;
}

describe('ControlNet-XL end to end (toy SDXL ControlNet, the builder-converted toy SDXL UNet)', { skip }, () => {
  test("the converted UNet fed the ControlNet export's residuals equals PyTorch's UNet with the same residuals added (relative error < 1e-4)", async () => {
    const reference = await readSafetensors(controlNet.reference);
    const read = async (name: string): Promise<FloatTensor> => floatTensor(await reference.tensor(name), reference.tensors.get(name)!.shape);
    const cnLease = await acquireComponent(sessions, controlNet.dir, ControlNet, { options: { intraOpNumThreads: 2, deterministic: true } });
    const unetLease = await acquireComponent(sessions, join(converted, 'unet'), UNet, { options: { intraOpNumThreads: 2, deterministic: true } });
    try {
      const unet = unetLease.component;
      assert.equal(unet.residualInputs?.down.length, cnLease.component.outputs.down.length, 'one residual input per ControlNet output');
      const sample = await read('sample');
      const timestep = (await read('timestep')).data[0];
      const encoderHiddenStates = await read('encoder_hidden_states');
      const extra = { text_embeds: await read('text_embeds'), time_ids: await read('time_ids') };
      const residuals = await cnLease.component.predict({ sample, timestep, encoderHiddenStates, hint: await read('controlnet_cond'), scale: (await read('conditioning_scale')).data[0], extra });
      const out = await unet.predict({ sample, timestep, encoderHiddenStates, extra, residuals });
      const expected = await reference.tensor('unet_out_sample');
      const error = relativeError(out.data, expected);
      console.log(`UNet + ControlNet-XL residuals, ONNX vs PyTorch: relative error ${error.toExponential(2)}`);
      assert.ok(error < 1e-4, `relative error ${error}`);
      // The residuals matter: without them the output is far from the reference.
      const plain = await unet.predict({ sample, timestep, encoderHiddenStates, extra });
      assert.ok(relativeError(plain.data, expected) > 1e-2, 'the residuals change the UNet output');
    } finally {
      cnLease.release();
      unetLease.release();
    }
  });

  test('a control: scene renders through the ControlNet-XL: the hint changes the image, deterministically; strength 0 renders exactly what no control renders', { timeout: 120_000 }, async () => {
    const none = await render('');
    const on = await render(control(1));
    const again = await render(control(1));
    const half = await render(control(0.5));
    const zero = await render(control(0));
    assert.deepEqual(again.data, on.data, 'same recipe, same pixels');
    const d = meanAbsDiff(on, none);
    console.log(`mean |Δ| with the hint at strength 1: ${d.toFixed(2)}, at 0.5: ${meanAbsDiff(half, none).toFixed(2)} (of 255)`);
    assert.ok(d > 1, `the hint changes the image (mean difference ${d})`);
    assert.ok(meanAbsDiff(half, on) > 0.5, 'strength 0.5 differs from strength 1');
    assert.deepEqual(zero.data, none.data, 'strength 0 is no control, bit for bit');
  });

  test('the torch-exported optimum folder (a UNet without residual inputs) refuses a hint with an error that says so', { timeout: 120_000 }, async () => {
    await assert.rejects(render(control(1), 'sdxl-optimum'), (e: Error) => /exported without ControlNet residual inputs.*imgprompt convert/.test(e.message) && e.message.includes('sdxl-optimum'));
  });
});
