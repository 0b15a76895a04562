// SDXL end to end on the seeded random-weight toy (tools/sdxl_random): the family's prompt conditioning
// equals diffusers' encode_prompt computed in PyTorch on the same weights; the UNet export equals the
// PyTorch module on the same inputs; the ONNX folder renders through the engine at SDXL's sizes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertCheckpoint, convertDiffusersFolder, describeCheckpoint, readCheckpointHeader, weightsFileVerdict } from '../../src/engine/checkpoint';
import { inferSdxlConfigs } from '../../src/engine/checkpoint/convert/convertSdxlCheckpoint';
import { createRenderService, type RenderService, type RGBImage } from '../../src/engine/index';
import { loadLora, loraWeightPatch, planLoras, readSafetensors } from '../../src/engine/lora';
import { readOnnxModelFiles } from '../../src/engine/onnx/onnxModelFiles';
import { acquireComponent } from '../../src/engine/model/componentLease';
import { familyOf, type ConditioningServices } from '../../src/engine/model/families';
import { readModelConfig } from '../../src/engine/model/modelConfig';
import { UNet } from '../../src/engine/model/unet';
import { SessionCache } from '../../src/engine/onnx/sessionCache';
import { floatTensor, type FloatTensor } from '../../src/engine/onnx/tensor';
import { loadCLIPTokenizer } from '../../src/engine/tokenizer';
import { ensureSdxlRandom, sdxlReferenceUnavailable, type SdxlRandom } from '../scale/sdxlRandom';
import { relativeError } from './relativeError';

const skip = sdxlReferenceUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'imgprompt-sdxl-'));
const project = join(dir, 'project');
let files: SdxlRandom;
let service: RenderService;
const sessions = new SessionCache();

before(() => {
  if (skip) return;
  files = ensureSdxlRandom('toy');
  mkdirSync(join(project, '.git'), { recursive: true });
  mkdirSync(join(project, 'models'));
  cpSync(files.onnx, join(project, 'models', 'sdxl'), { recursive: true });
});
after(async () => {
  await service?.dispose();
  await sessions.clear();
  rmSync(dir, { recursive: true, force: true });
});

function services(modelDir: string): ConditioningServices {
  return {
    acquire: async (component, Type, patch) => (await acquireComponent(sessions, join(modelDir, component), Type, { patch })).component,
    tokenizer: (folder) => loadCLIPTokenizer(folder),
    textualInversion: () => Promise.reject(new Error('not used')),
    patchFor: () => undefined,
    cached: (_key, encode) => encode(),
    timed: (_stage, work) => work(),
  };
}

async function render(extra: string, model = 'sdxl'): Promise<RGBImage> {
  service ??= await createRenderService({ threads: 2 });
  const text = `model: ./models/${model}\nprompt: a red square on a blue background\nseed: 5\nsteps: 4\nguidance: 6\nsampler: euler\nwatermark: off\n${extra}`;
  const file = join(project, `scene-${Math.random().toString(36).slice(2)}.imgprompt`);
  writeFileSync(file, text);
  const plan = await service.plan({ file, context: { projectRoot: project } });
  assert.ok(plan.jobs[0], `no job planned for ${file}`);
  return (await service.render(plan.jobs[0].job)).image;
}

function maxAbsDiff(a: RGBImage, b: RGBImage): number {
  let max = 0;
  for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i] - b.data[i]));
  return max;
}

/** Standard deviation of the pixel values. */
function spread(image: RGBImage): number {
  let sum = 0;
  let squares = 0;
  for (const v of image.data) {
    sum += v;
    squares += v * v;
  }
  const n = image.data.length;
  return Math.sqrt(squares / n - (sum / n) ** 2);
}

function meanAbsDiff(a: RGBImage, b: RGBImage): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i] - b.data[i]);
  return sum / a.data.length;
}

describe('SDXL family (toy, seeded random weights)', { skip }, () => {
  test('the model folder reads as SDXL: second encoder, 1024² native size, SDXL buckets, Euler defaults', () => {
    const model = readModelConfig(files.onnx);
    assert.equal(familyOf(model).id, 'sdxl');
    assert.equal(model.nativeWidth, 1024);
    assert.equal(model.buckets.length, 9);
    assert.deepEqual(model.buckets[3], { width: 1216, height: 832 });
    assert.equal(model.forceZerosForEmptyPrompt, true);
    assert.equal(familyOf(model).latentScale(model), 0.13025);
  });

  test("prompt conditioning equals diffusers' encode_prompt in PyTorch: penultimate states of both encoders concatenated, text_embeds, time_ids", async () => {
    const model = readModelConfig(files.onnx);
    const reference = await readSafetensors(files.textReference);
    const prompt = reference.metadata.prompt;
    const prompt2 = reference.metadata.prompt_2;
    const family = familyOf(model);
    const cond = await family.encodePrompt(prompt, { width: 1216, height: 832, options: { prompt_2: prompt2 } }, model, services(files.onnx));
    const expected = await reference.tensor('prompt_embeds');
    assert.deepEqual(cond.hiddenStates.dims, [1, 77, 192]);
    const hiddenError = relativeError(cond.hiddenStates.data, expected);
    assert.ok(hiddenError < 1e-5, `prompt_embeds relative error ${hiddenError}`);
    const textEmbeds = cond.extra.text_embeds;
    assert.deepEqual(textEmbeds.dims, [1, 128]);
    const pooledError = relativeError(textEmbeds.data, await reference.tensor('text_embeds'));
    assert.ok(pooledError < 1e-5, `text_embeds relative error ${pooledError}`);
    assert.deepEqual([...cond.extra.time_ids.data], [832, 1216, 0, 0, 832, 1216]);

    // Without prompt_2 the second encoder reads the prompt; the first encoder's half is unchanged.
    const same = await family.encodePrompt(prompt, { width: 1024, height: 1024 }, model, services(files.onnx));
    for (let t = 0; t < 77; t++) {
      for (let i = 0; i < 64; i++) assert.equal(same.hiddenStates.data[t * 192 + i], cond.hiddenStates.data[t * 192 + i]);
    }
    assert.ok(relativeError(same.extra.text_embeds.data, textEmbeds.data) > 1e-3, 'a different prompt_2 changes text_embeds');

    // An empty negative prompt is zeros (force_zeros_for_empty_prompt); an empty positive one is encoded.
    const negative = await family.encodePrompt('', { width: 1024, height: 1024, role: 'negative' }, model, services(files.onnx));
    assert.ok(negative.hiddenStates.data.every((v) => v === 0) && negative.extra.text_embeds.data.every((v) => v === 0));
    const emptyPositive = await family.encodePrompt('', { width: 1024, height: 1024 }, model, services(files.onnx));
    assert.ok(emptyPositive.hiddenStates.data.some((v) => v !== 0));
  });

  test('the UNet export equals the PyTorch module on the same inputs (relative error < 1e-4)', async () => {
    const reference = await readSafetensors(files.unetReference);
    const read = async (name: string): Promise<FloatTensor> => floatTensor(await reference.tensor(name), reference.tensors.get(name)!.shape);
    const lease = await acquireComponent(sessions, join(files.onnx, 'unet'), UNet);
    try {
      assert.deepEqual(lease.component.extraInputNames, ['text_embeds', 'time_ids']);
      const timestep = await read('timestep');
      const out = await lease.component.predict({
        sample: await read('sample'),
        timestep: [...timestep.data],
        encoderHiddenStates: await read('encoder_hidden_states'),
        extra: { text_embeds: await read('text_embeds'), time_ids: await read('time_ids') },
      });
      assert.deepEqual(out.dims, [2, 4, 16, 12]);
      const error = relativeError(out.data, await reference.tensor('out_sample'));
      assert.ok(error < 1e-4, `UNet relative error ${error}`);
    } finally {
      lease.release();
    }
  });

  test('the ONNX folder renders through the engine: deterministic, prompt- and size-sensitive, default size from the buckets', async () => {
    const a = await render('size: {width: 128, height: 128}\n');
    assert.equal(a.width, 128);
    const again = await render('size: {width: 128, height: 128}\n');
    assert.deepEqual(again.data, a.data, 'same recipe, same pixels');
    const other = await render('size: {width: 128, height: 128}\nnegative: a photo of a cat\n');
    assert.ok(meanAbsDiff(a, other) > 0.5, 'the negative prompt changes the image');
    const second = await render('size: {width: 128, height: 128}\nprompt_2: a photo of a cat\n');
    assert.ok(meanAbsDiff(a, second) > 0.5, 'prompt_2 (the second encoder alone) changes the image');
    const plan = await service.plan({ file: writeScene('size: {aspect: "3:2"}\n'), context: { projectRoot: project } });
    assert.deepEqual([plan.jobs[0].job.recipe.width, plan.jobs[0].job.recipe.height], [1216, 832]);
    const wide = await service.plan({ file: writeScene('size: {aspect: "16:9"}\n'), context: { projectRoot: project } });
    assert.deepEqual([wide.jobs[0].job.recipe.width, wide.jobs[0].job.recipe.height], [1344, 768]);
    // Far from every bucket (2 megapixels): the exact grid size.
    const large = await service.plan({ file: writeScene('size: {megapixels: 2, aspect: "1:1"}\n'), context: { projectRoot: project } });
    assert.deepEqual([large.jobs[0].job.recipe.width, large.jobs[0].job.recipe.height], [1408, 1408]);
    const square = await service.plan({ file: writeScene(''), context: { projectRoot: project } });
    assert.deepEqual([square.jobs[0].job.recipe.width, square.jobs[0].job.recipe.height], [1024, 1024]);
  });
});

describe('SDXL conversion (toy, same weights in every layout)', { skip }, () => {
  test('the diffusers folder converts (text_time UNet, hidden-state and projection text encoders, tokenizer_2) and renders what the ONNX export renders', { timeout: 600_000 }, async () => {
    const out = join(project, 'models', 'from-diffusers');
    await convertDiffusersFolder(files.diffusers, { out });
    const converted = readModelConfig(out);
    assert.equal(familyOf(converted).id, 'sdxl');
    assert.equal(converted.forceZerosForEmptyPrompt, true);
    const scene = 'size: {width: 128, height: 96}\nnegative: blurry\n';
    const fromExport = await render(scene);
    const fromDiffusers = await render(scene, 'from-diffusers');
    assert.ok(spread(fromExport) > 5, 'the image is not flat (the comparison means something)');
    const max = maxAbsDiff(fromExport, fromDiffusers);
    // Same weights, a different graph (float timestep, unfused layout): within 2 of 255 per channel.
    assert.ok(max <= 2, `max pixel difference ${max}`);
  });
});

describe('SDXL single files (SGM layout)', { skip }, () => {
  test('the single file is detected as SDXL by its keys, converts (OpenCLIP bigG renamed, label_emb, depth per level) and renders what the ONNX export renders', { timeout: 600_000 }, async () => {
    const description = describeCheckpoint(readCheckpointHeader(files.singleFile));
    assert.equal(description.family, 'sdxl');
    assert.equal(description.layout, 'ldm');
    const out = join(project, 'models', 'from-single-file');
    const result = await convertCheckpoint(files.singleFile, { out, tokenizerDir: join(files.onnx, 'tokenizer') });
    const unet = result.configs.unet;
    assert.deepEqual(unet.transformer_layers_per_block, [1, 1, 2]);
    assert.deepEqual(unet.attention_head_dim, [1, 1, 2]);
    assert.equal(unet.addition_time_embed_dim, 16);
    assert.equal(result.configs.prediction.type, 'epsilon');
    const converted = readModelConfig(out);
    assert.equal(familyOf(converted).id, 'sdxl');
    assert.equal(familyOf(converted).latentScale(converted), 0.13025);
    const scene = 'size: {width: 128, height: 96}\nnegative: blurry\n';
    const max = maxAbsDiff(await render(scene), await render(scene, 'from-single-file'));
    assert.ok(max <= 2, `max pixel difference ${max}`);
  });
});

describe('SDXL single files: prediction type', { skip }, () => {
  test("ε by default; a v_pred key (ComfyUI's marker, as NoobAI's v-pred files carry) means v-prediction, with ztsnr zero terminal SNR; a .yaml says too", async () => {
    assert.equal(weightsFileVerdict(files.singleFile).convertible, true);
    const tensors = (await readSafetensors(files.singleFile, { anyDtype: true })).tensors;
    const marker = { dtype: 'F32', shape: [], dataOffsets: [0, 4] as const };
    const plain = inferSdxlConfigs(tensors, files.singleFile);
    assert.equal(plain.scheduler.prediction_type, 'epsilon');
    assert.equal(plain.scheduler.timestep_spacing, 'leading');
    const vpred = inferSdxlConfigs(new Map([...tensors, ['v_pred', marker]]), files.singleFile);
    assert.deepEqual([vpred.prediction.type, vpred.scheduler.rescale_betas_zero_snr], ['v_prediction', undefined]);
    const zsnr = inferSdxlConfigs(new Map([...tensors, ['v_pred', marker], ['ztsnr', marker]]), files.singleFile);
    assert.deepEqual([zsnr.scheduler.prediction_type, zsnr.scheduler.rescale_betas_zero_snr, zsnr.scheduler.timestep_spacing], ['v_prediction', true, 'trailing']);
    assert.equal(inferSdxlConfigs(tensors, files.singleFile, 'model:\n  params:\n    parameterization: "v"\n').prediction.type, 'v_prediction');
  });
});

describe('SDXL LoRAs (kohya fixture with sd-scripts key names)', { skip }, () => {
  test('every module of the kohya SDXL LoRA finds its weight: SGM-named UNet blocks (attention, LoCon convs, embeddings), lora_te1_ and lora_te2_', async () => {
    const lora = await loadLora(join(files.root, 'lora_kohya.safetensors'));
    assert.equal(lora.unsupported.length, 0, lora.unsupported.join(', '));
    for (const component of ['unet', 'text_encoder', 'text_encoder_2'] as const) {
      for (const folder of [files.onnx, join(project, 'models', 'from-single-file')]) {
        const info = (await readOnnxModelFiles(join(folder, component, 'model.onnx'))).info;
        const plan = planLoras(info, component, [{ lora, weight: 1 }]);
        assert.ok(plan.total > 0, `${component}: the fixture adapts it`);
        assert.equal(plan.matched, plan.total, `${component} in ${folder}: unmatched ${plan.unmatched.slice(0, 5).join(', ')}`);
      }
    }
  });

  test('the merged UNet equals PyTorch with the LoRA merged into its weights (relative error < 1e-4), in memory and by byte range', async () => {
    const lora = await loadLora(join(files.root, 'lora_kohya.safetensors'));
    const reference = await readSafetensors(files.unetReference);
    const merged = await readSafetensors(join(files.root, 'lora_reference.safetensors'));
    const weight = Number(merged.metadata.weight);
    const read = async (name: string): Promise<FloatTensor> => floatTensor(await reference.tensor(name), reference.tensors.get(name)!.shape);
    // The range path (an overlay file, as for a 10 GB SDXL UNet) forced on the toy with a zero limit.
    for (const [how, limit] of [['in memory', undefined], ['by range', 0]] as const) {
      const patch = loraWeightPatch('unet', [{ lora, weight, hash: `fixture-${how}` }], { inMemoryLimitBytes: limit });
      const lease = await acquireComponent(sessions, join(files.onnx, 'unet'), UNet, { patch });
      try {
        const out = await lease.component.predict({
          sample: await read('sample'),
          timestep: [...(await read('timestep')).data],
          encoderHiddenStates: await read('encoder_hidden_states'),
          extra: { text_embeds: await read('text_embeds'), time_ids: await read('time_ids') },
        });
        const error = relativeError(out.data, await merged.tensor('out_sample'));
        assert.ok(error < 1e-4, `LoRA-merged UNet (${how}) relative error ${error}`);
        assert.ok(relativeError(out.data, await reference.tensor('out_sample')) > 1e-2, 'the LoRA changes the UNet');
      } finally {
        lease.release();
      }
    }
  });

  test('a render with the LoRA differs from one without; weight 0 renders exactly what no LoRA renders', { timeout: 600_000 }, async () => {
    mkdirSync(join(project, 'loras'), { recursive: true });
    cpSync(join(files.root, 'lora_kohya.safetensors'), join(project, 'loras', 'style.safetensors'));
    const base = 'size: {width: 128, height: 96}\n';
    const without = await render(base);
    const withLora = await render(`${base}loras:\n  - file: ./loras/style.safetensors\n    weight: 0.8\n`);
    const zero = await render(`${base}loras:\n  - file: ./loras/style.safetensors\n    weight: 0\n`);
    assert.ok(meanAbsDiff(without, withLora) > 1, `the LoRA changes the image (mean difference ${meanAbsDiff(without, withLora)})`);
    assert.deepEqual(zero.data, without.data, 'weight 0 is no LoRA');
  });
});

function writeScene(extra: string): string {
  const file = join(project, `plan-${Math.random().toString(36).slice(2)}.imgprompt`);
  writeFileSync(file, `model: ./models/sdxl\nprompt: a red square\nseed: 1\n${extra}`);
  return file;
}
