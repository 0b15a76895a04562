// SD 2.x single-file checkpoints end to end, on the seeded SD 2.x-architecture toy (test/scale/sd2Toy.ts:
// OpenCLIP text tower of which the penultimate block conditions, 64-wide UNet heads, linear projections,
// v-prediction): the file (and the diffusers folder of the same weights) converts with no tokenizer given
// (the shipped CLIP vocabulary, padded with '!') into a folder that renders what torch's ONNX export of
// the same modules renders, within the SD 1.5 conversion tests' tolerance (max 2 levels, PSNR > 60 dB:
// different graphs of the same float32 weights round differently in the last bits); the text encoder's
// hidden states equal torch's eager forward (relative 1e-5); the prediction type comes from a .yaml beside
// the file, else ComfyUI's rule (the spread of output_blocks.11.1's norm1 bias, above 0.09: v), else
// diffusers' (SD 2.x: v), inpainting and SD 1.x: epsilon; v-models default to 768².
// Skipped with the reason without Debian's torch.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describeCheckpoint, readCheckpointHeader, weightsFileVerdict } from '../../src/engine/checkpoint';
import { inferLdmConfigs, populationStd, SD2_V_PROBE } from '../../src/engine/checkpoint/convert/inferLdmConfig';
import { readSafetensors } from '../../src/engine/lora/safetensors';
import { convertCheckpoint, convertDiffusersFolder, createRenderService, type RenderService, type RGBImage } from '../../src/engine/index';
import { loadCLIPTokenizer } from '../../src/engine/tokenizer';
import { sd15ReferenceUnavailable } from '../scale/sd15Random';
import { ensureSd2Toy, type Sd2Toy } from '../scale/sd2Toy';

const skip = sd15ReferenceUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'imgprompt-sd2-'));
const project = join(dir, 'project');
let toy: Sd2Toy;
let service: RenderService;
after(async () => {
  await service?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

before(async () => {
  if (skip) return;
  toy = ensureSd2Toy('v');
  mkdirSync(join(project, '.git'), { recursive: true });
  mkdirSync(join(project, 'models'));
  cpSync(toy.onnx, join(project, 'models', 'export'), { recursive: true });
  service = await createRenderService({ threads: 2 });
});

async function plan(model: string, extra: string) {
  const file = join(project, `${model}-${Math.random().toString(36).slice(2)}.imgprompt`);
  writeFileSync(file, `model: ./models/${model}\nprompt: a red square on a blue background\nseed: 5\nsteps: 6\nguidance: 7\nwatermark: off\n${extra}`);
  return service.plan({ file, context: { projectRoot: project } });
}

async function render(model: string): Promise<RGBImage> {
  // DDIM: SD 2.1's scheduler config (no timestep_spacing: leading) gives integer timesteps, which the
  // export's int64 timestep input carries exactly; Euler's linspace timesteps are fractional, which the
  // converted graph's float timestep keeps (as diffusers' UNet does) and the export truncates.
  const p = await plan(model, 'sampler: ddim\nsize: {width: 128, height: 128}\n');
  return (await service.render(p.jobs[0].job)).image;
}

function compare(a: RGBImage, b: RGBImage): { max: number; psnr: number } {
  assert.deepEqual([a.width, a.height], [b.width, b.height]);
  let max = 0;
  let squared = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    max = Math.max(max, d);
    squared += d * d;
  }
  const mse = squared / a.data.length;
  return { max, psnr: mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse) };
}

function decode(e: { dims: number[]; data: string }): Float32Array {
  const bytes = Buffer.from(e.data, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

function relative(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

describe('SD 2.x single-file checkpoints', { skip }, () => {
  test('are detected as SD 2.x and convertible', () => {
    const d = describeCheckpoint(readCheckpointHeader(toy.singleFile));
    assert.equal(d.family, 'sd2');
    assert.equal(d.layout, 'ldm');
    assert.ok(weightsFileVerdict(toy.singleFile).convertible, weightsFileVerdict(toy.singleFile).message);
  });

  test('convert with no tokenizer given; text encoder equals torch; the render equals the ONNX export\'s', { timeout: 600_000 }, async () => {
    const out = join(project, 'models', 'converted');
    const result = await convertCheckpoint(toy.singleFile, { out, env: { HF_HUB_CACHE: join(dir, 'empty-hub') } });
    assert.match(result.tokenizer, /bpe_simple_vocab_16e6\.txt\.gz$/);
    assert.equal(result.configs.prediction.type, 'v_prediction');
    const scheduler = JSON.parse(readFileSync(join(out, 'scheduler', 'scheduler_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(scheduler.prediction_type, 'v_prediction');
    const reference = JSON.parse(readFileSync(join(toy.onnx, 'unet', 'config.json'), 'utf8')) as Record<string, unknown>;
    for (const key of ['block_out_channels', 'layers_per_block', 'cross_attention_dim', 'attention_head_dim', 'use_linear_projection', 'in_channels', 'sample_size']) {
      assert.deepEqual(result.configs.unet[key], reference[key], `unet ${key}`);
    }
    const text = JSON.parse(readFileSync(join(out, 'text_encoder', 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual([text.num_hidden_layers, text.hidden_act], [2, 'gelu'], 'the penultimate of 3 blocks, exact GELU');

    // The tokenizer pads with '!' (id 0), as the export's (SD 2.x's) does.
    const tokenizer = await loadCLIPTokenizer(join(out, 'tokenizer'));
    assert.deepEqual(tokenizer.encodePrompt('a photo of').ids.slice(0, 7), [49406, 320, 1125, 539, 49407, 0, 0]);

    const ref = JSON.parse(readFileSync(toy.reference, 'utf8')) as { ids: number[][]; last_hidden_state: { dims: number[]; data: string }; pooler_output: { dims: number[]; data: string } };
    const session = await ort.InferenceSession.create(join(out, 'text_encoder', 'model.onnx'), { logSeverityLevel: 3 });
    try {
      const got = await session.run({ input_ids: new ort.Tensor('int32', Int32Array.from(ref.ids.flat()), [ref.ids.length, ref.ids[0].length]) });
      const hidden = relative(got.last_hidden_state.data as Float32Array, decode(ref.last_hidden_state));
      const pooled = relative(got.pooler_output.data as Float32Array, decode(ref.pooler_output));
      console.log(`SD 2.x text encoder vs torch: relative error hidden ${hidden.toExponential(2)}, pooled ${pooled.toExponential(2)}`);
      assert.ok(hidden < 1e-5 && pooled < 1e-5, `hidden ${hidden}, pooled ${pooled}`);
    } finally {
      await session.release();
    }

    const { max, psnr } = compare(await render('export'), await render('converted'));
    console.log(`converted SD 2.x checkpoint vs optimum-layout export: max pixel difference ${max}, PSNR ${psnr.toFixed(1)} dB; converted in ${(result.milliseconds / 1000).toFixed(2)} s`);
    assert.ok(max <= 2, `max pixel difference ${max}`);
    assert.ok(psnr > 60, `PSNR ${psnr.toFixed(1)} dB`);

    // A v-prediction model's native size is 768².
    const planned = await plan('converted', '');
    assert.deepEqual([planned.jobs[0].job.recipe.width, planned.jobs[0].job.recipe.height], [768, 768]);
  });

  test('the diffusers folder of the same weights converts and renders the same', { timeout: 600_000 }, async () => {
    await convertDiffusersFolder(toy.diffusers, { out: join(project, 'models', 'from-diffusers') });
    const { max, psnr } = compare(await render('export'), await render('from-diffusers'));
    console.log(`converted SD 2.x diffusers folder vs export: max pixel difference ${max}, PSNR ${psnr.toFixed(1)} dB`);
    assert.ok(max <= 2, `max pixel difference ${max}`);
  });

  test('the prediction type: a .yaml beside the file, else the norm-bias rule for SD 2.x, epsilon for inpainting and SD 1.x', async () => {
    const { tensors } = readCheckpointHeader(toy.singleFile);
    const eps = inferLdmConfigs(tensors, toy.singleFile, 'model:\n  params:\n    parameterization: "eps"\n');
    assert.deepEqual([eps.prediction.type, eps.scheduler.prediction_type, eps.unet.sample_size], ['epsilon', 'epsilon', 64]);
    assert.match(eps.prediction.source, /\.yaml/);
    const v = inferLdmConfigs(tensors, toy.singleFile, 'model:\n  params:\n    parameterization: "v"\n');
    assert.equal(v.prediction.type, 'v_prediction');
    // No .yaml: ComfyUI's rule on the spread of output_blocks.11.1's norm1 bias (the toy's, as a 768-v
    // model's, is above 0.09), else diffusers' SD 2.x default, v.
    const probe = await readSafetensors(toy.singleFile);
    const std = populationStd(await probe.tensor(SD2_V_PROBE));
    assert.ok(std > 0.09, `the toy's probe std ${std}`);
    const none = inferLdmConfigs(tensors, toy.singleFile, undefined, std);
    assert.deepEqual([none.prediction.type, none.scheduler._class_name, none.unet.sample_size], ['v_prediction', 'DDIMScheduler', 96]);
    const base = inferLdmConfigs(tensors, toy.singleFile, undefined, 0.05);
    assert.deepEqual([base.prediction.type, base.unet.sample_size], ['epsilon', 64]);
    assert.match(base.prediction.source, /ComfyUI/);
    assert.equal(inferLdmConfigs(tensors, toy.singleFile).prediction.type, 'v_prediction');
    assert.equal(inferLdmConfigs(tensors, toy.singleFile, 'parameterization: "v"\n', 0.05).prediction.type, 'v_prediction', 'the .yaml wins');
    assert.ok(Math.abs(populationStd(Float32Array.of(-0.15, -0.05, 0.05, 0.15)) - Math.sqrt(0.0125)) < 1e-7);
    const inpaint = new Map(tensors);
    const conv = tensors.get('model.diffusion_model.input_blocks.0.0.weight')!;
    inpaint.set('model.diffusion_model.input_blocks.0.0.weight', { ...conv, shape: [conv.shape[0], 9, ...conv.shape.slice(2)] });
    assert.equal(inferLdmConfigs(inpaint, toy.singleFile).prediction.type, 'epsilon');
  });
});
