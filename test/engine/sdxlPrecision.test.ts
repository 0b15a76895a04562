// Weight precision (`precision: int8 | fp16 | bf16`) on SDXL, on the seeded random-weight toy
// (tools/sdxl_random): the variant of the optimum export's UNet and of the builder-converted UNet (with
// residual inputs and the add_embedding as a MatMul) stays within stated bounds of float32 on the PyTorch
// reference inputs (SDXL's text_embeds and six time ids), and scenes render at every precision,
// finite and reproducibly, near the float32 render. Bounds are set from the figures of
// `npm run eval:precision:sdxl` (docs/precision.md) with a margin; they are toy-scale.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertDiffusersFolder } from '../../src/engine/checkpoint';
import { createRenderService, type RenderService, type RGBImage } from '../../src/engine/index';
import { readSafetensors } from '../../src/engine/lora';
import { acquireComponent } from '../../src/engine/model/componentLease';
import { UNet } from '../../src/engine/model/unet';
import { precisionPatch, type PrecisionReport } from '../../src/engine/onnx/precision';
import { SessionCache } from '../../src/engine/onnx/sessionCache';
import { floatTensor, type FloatTensor } from '../../src/engine/onnx/tensor';
import { ensureSdxlRandom, sdxlReferenceUnavailable, type SdxlRandom } from '../scale/sdxlRandom';
import { relativeError } from './relativeError';

const skip = sdxlReferenceUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'imgprompt-sdxl-precision-'));
const project = join(dir, 'project');
let files: SdxlRandom;
let service: RenderService | undefined;
const sessions = new SessionCache();

/** Largest |variant − fp32| relative to the largest |fp32 output|, per precision (measured: int8 5.2–5.5 %, fp16 0.10 %, bf16 0.80 %). */
const UNET_BOUND = { int8: 0.08, fp16: 0.003, bf16: 0.02 } as const;
/** PSNR of a 4-step 128² render against fp32 (measured: int8 34 dB, fp16 60 dB, bf16 49 dB). */
const PSNR_BOUND = { int8: 28, fp16: 50, bf16: 40 } as const;

before(async () => {
  if (skip) return;
  files = ensureSdxlRandom('toy');
  mkdirSync(join(project, '.git'), { recursive: true });
  mkdirSync(join(project, 'models'), { recursive: true });
  cpSync(files.onnx, join(project, 'models', 'sdxl'), { recursive: true });
  await convertDiffusersFolder(files.diffusers, { out: join(project, 'models', 'sdxl-converted') });
});
after(async () => {
  await service?.dispose();
  await sessions.clear();
  rmSync(dir, { recursive: true, force: true });
});

function psnr(a: RGBImage, b: RGBImage): number {
  let squares = 0;
  for (let i = 0; i < a.data.length; i++) squares += (a.data[i] - b.data[i]) ** 2;
  return squares === 0 ? Infinity : 10 * Math.log10((255 * 255 * a.data.length) / squares);
}

async function render(precision: string): Promise<RGBImage> {
  service ??= await createRenderService({ threads: 2 });
  const file = join(project, `scene-${Math.random().toString(36).slice(2)}.imgprompt`);
  const key = precision === 'fp32' ? '' : `precision: ${precision}\n`;
  writeFileSync(file, `model: ./models/sdxl\nprompt: a red square on a blue background\nseed: 5\nsteps: 4\nguidance: 6\nsampler: euler\nsize: {width: 128, height: 128}\nwatermark: off\n${key}`);
  const plan = await service.plan({ file, context: { projectRoot: project } });
  assert.ok(plan.jobs[0], `no job planned for ${file}`);
  return (await service.render(plan.jobs[0].job)).image;
}

describe('SDXL weight precision (toy, seeded random weights)', { skip }, () => {
  test('the UNet variants stay within their bounds of float32 on the reference inputs, for the optimum export and the builder-converted graph', { timeout: 120_000 }, async () => {
    const reference = await readSafetensors(files.unetReference);
    const read = async (name: string): Promise<FloatTensor> => floatTensor(await reference.tensor(name), reference.tensors.get(name)!.shape);
    const inputs = {
      sample: await read('sample'),
      timestep: [...(await read('timestep')).data],
      encoderHiddenStates: await read('encoder_hidden_states'),
      extra: { text_embeds: await read('text_embeds'), time_ids: await read('time_ids') },
    };
    for (const model of ['sdxl', 'sdxl-converted']) {
      const unetDir = join(project, 'models', model, 'unet');
      const run = async (precision: 'fp32' | keyof typeof UNET_BOUND) => {
        const reports: PrecisionReport[] = [];
        const lease = await acquireComponent(sessions, unetDir, UNet, { patch: precisionPatch(precision, (r) => reports.push(r)), options: { intraOpNumThreads: 2, deterministic: true } });
        try {
          return { out: (await lease.component.predict(inputs)).data, report: reports[0] };
        } finally {
          lease.release();
          await sessions.clear();
        }
      };
      const fp32 = (await run('fp32')).out;
      for (const precision of ['int8', 'fp16', 'bf16'] as const) {
        const { out, report } = await run(precision);
        const error = relativeError(out, fp32);
        console.log(`${model} UNet ${precision}: relative error ${(100 * error).toFixed(3)} % (${report?.tensors ?? 0} tensors, ${report?.parameters ?? 0} parameters)`);
        assert.ok(report && report.tensors > 0, `${model} ${precision}: the variant changed weights`);
        assert.ok(error > 0, `${model} ${precision}: the variant changes the output`);
        assert.ok(error < UNET_BOUND[precision], `${model} ${precision}: relative error ${error} ≥ ${UNET_BOUND[precision]}`);
      }
    }
  });

  test('a scene renders at every precision: finite, reproducible, near the float32 render', { timeout: 120_000 }, async () => {
    const fp32 = await render('fp32');
    for (const precision of ['int8', 'fp16', 'bf16'] as const) {
      const image = await render(precision);
      const again = await render(precision);
      assert.deepEqual(again.data, image.data, `${precision}: same recipe, same pixels`);
      const p = psnr(image, fp32);
      console.log(`${precision} render vs fp32: ${p.toFixed(1)} dB`);
      assert.ok(p < Infinity, `${precision}: the variant changes the render`);
      assert.ok(p > PSNR_BOUND[precision], `${precision}: PSNR ${p.toFixed(1)} dB ≤ ${PSNR_BOUND[precision]} dB`);
    }
  });
});
