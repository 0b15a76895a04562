// The SDXL refiner as a model, on the seeded random-weight toy refiner (tools/sdxl_random/make_refiner.py):
// only the second text encoder (bigG), five time ids ending in an aesthetic score, a four-level UNet, and
// model_index.json's requires_aesthetics_score. Its UNet export equals the PyTorch module; the SGM single
// file is detected as the refiner and converts (as does the diffusers folder) to a UNet that equals the
// same module; the three layouts refine a base render (image-to-image) to the same pixels.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertCheckpoint, convertDiffusersFolder, describeCheckpoint, readCheckpointHeader } from '../../src/engine/checkpoint';
import { createRenderService, type RenderService, type RGBImage } from '../../src/engine/index';
import { readSafetensors } from '../../src/engine/lora';
import { acquireComponent } from '../../src/engine/model/componentLease';
import { familyOf } from '../../src/engine/model/families';
import { readModelConfig } from '../../src/engine/model/modelConfig';
import { UNet } from '../../src/engine/model/unet';
import { encodePixelsToPng } from '../../src/engine/output/encodePng';
import { SessionCache } from '../../src/engine/onnx/sessionCache';
import { floatTensor, type FloatTensor } from '../../src/engine/onnx/tensor';
import { encoderServices } from '../unit/prompt/encoderServices';
import { ensureSdxlRandom, ensureSdxlRefiner, sdxlReferenceUnavailable, type SdxlRefiner } from '../scale/sdxlRandom';
import { relativeError } from './relativeError';

const skip = sdxlReferenceUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'imgprompt-sdxl-refiner-'));
const project = join(dir, 'project');
const models = join(project, 'models');
let refiner: SdxlRefiner;
let baseSingleFile = '';
let service: RenderService | undefined;
const sessions = new SessionCache();

before(
  async () => {
    if (skip) return;
    const base = ensureSdxlRandom('toy');
    baseSingleFile = base.singleFile;
    refiner = ensureSdxlRefiner();
    mkdirSync(join(project, '.git'), { recursive: true });
    mkdirSync(models, { recursive: true });
    cpSync(base.onnx, join(models, 'base'), { recursive: true });
    cpSync(refiner.onnx, join(models, 'refiner'), { recursive: true });
    // The single file's tokenizer: the refiner's own (tokenizer_2 pads with "!"; the converter writes that too).
    await convertCheckpoint(refiner.singleFile, { out: join(models, 'refiner-single-file'), tokenizerDir: join(refiner.onnx, 'tokenizer_2') });
    await convertDiffusersFolder(refiner.diffusers, { out: join(models, 'refiner-diffusers') });
  },
  { timeout: 900_000 },
);
after(async () => {
  await service?.dispose();
  await sessions.clear();
  rmSync(dir, { recursive: true, force: true });
});

async function render(model: string, extra: string): Promise<RGBImage> {
  service ??= await createRenderService({ threads: 2 });
  const text = `model: ./models/${model}\nprompt: a red square on a blue background\nnegative: blurry\nseed: 5\nsteps: 4\nguidance: 6\nsampler: euler\nsize: {width: 192, height: 128}\nwatermark: off\n${extra}`;
  const file = join(project, `scene-${Math.random().toString(36).slice(2)}.imgprompt`);
  writeFileSync(file, text);
  const plan = await service.plan({ file, context: { projectRoot: project } });
  assert.ok(plan.jobs[0], `no job planned for ${file}: ${JSON.stringify(plan, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).slice(0, 1500)}`);
  return (await service.render(plan.jobs[0].job)).image;
}

function maxAbsDiff(a: RGBImage, b: RGBImage): number {
  let max = 0;
  for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i] - b.data[i]));
  return max;
}

function meanAbsDiff(a: RGBImage, b: RGBImage): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i] - b.data[i]);
  return sum / a.data.length;
}

describe('SDXL refiner (toy, seeded random weights)', { skip }, () => {
  test('the single file is detected as the SDXL refiner (bigG as conditioner.embedders.0.model), the base file still as SDXL', () => {
    const description = describeCheckpoint(readCheckpointHeader(refiner.singleFile));
    assert.equal(description.family, 'sdxl-refiner');
    assert.equal(description.label, 'Stable Diffusion XL refiner');
    assert.equal(description.layout, 'ldm');
    assert.equal(describeCheckpoint(readCheckpointHeader(baseSingleFile)).family, 'sdxl');
  });

  test('every layout reads as a refiner: text_encoder_2 only, requires_aesthetics_score, no zeroed empty negative; the converted folders say so in model_index.json', () => {
    for (const name of ['refiner', 'refiner-single-file', 'refiner-diffusers']) {
      const model = readModelConfig(join(models, name));
      assert.equal(familyOf(model).id, 'sdxl', name);
      assert.ok(!model.components.includes('text_encoder') && model.components.includes('text_encoder_2'), `${name}: ${model.components.join(', ')}`);
      assert.equal(model.requiresAestheticsScore, true, name);
      assert.equal(model.forceZerosForEmptyPrompt, false, name);
      assert.equal(model.textEncoder.hiddenSize, 128, `${name}: the model's text encoder is bigG's`);
    }
    const index = JSON.parse(readFileSync(join(models, 'refiner-single-file', 'model_index.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual([index.text_encoder, index.tokenizer, index.requires_aesthetics_score, index.force_zeros_for_empty_prompt], [[null, null], [null, null], true, false]);
    const unet = JSON.parse(readFileSync(join(models, 'refiner-single-file', 'unet', 'config.json'), 'utf8')) as Record<string, unknown>;
    // Read off the shapes: four levels, attention at the middle two, the mid block's depth and heads at the last level, five time ids.
    assert.deepEqual(unet.down_block_types, ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D']);
    assert.deepEqual(unet.transformer_layers_per_block, [1, 2, 2, 2]);
    assert.deepEqual(unet.attention_head_dim, [1, 1, 2, 2]);
    assert.deepEqual([unet.addition_time_embed_dim, unet.projection_class_embeddings_input_dim], [16, 128 + 5 * 16]);
  });

  test("the UNet of every layout equals the PyTorch refiner UNet on five time ids (aesthetic scores 2.5 / 6.0; relative error < 1e-4)", async () => {
    const reference = await readSafetensors(refiner.unetReference);
    const read = async (name: string): Promise<FloatTensor> => floatTensor(await reference.tensor(name), reference.tensors.get(name)!.shape);
    const expected = await reference.tensor('out_sample');
    for (const name of ['refiner', 'refiner-single-file', 'refiner-diffusers']) {
      const lease = await acquireComponent(sessions, join(models, name, 'unet'), UNet, { options: { intraOpNumThreads: 2, deterministic: true } });
      try {
        assert.deepEqual(lease.component.extraInputNames, ['text_embeds', 'time_ids'], name);
        const timeIds = await read('time_ids');
        assert.deepEqual(timeIds.dims, [2, 5]);
        const out = await lease.component.predict({
          sample: await read('sample'),
          timestep: [...(await read('timestep')).data],
          encoderHiddenStates: await read('encoder_hidden_states'),
          extra: { text_embeds: await read('text_embeds'), time_ids: timeIds },
        });
        const error = relativeError(out.data, expected);
        console.log(`refiner UNet (${name}) vs PyTorch: relative error ${error.toExponential(2)}`);
        assert.ok(error < 1e-4, `${name}: relative error ${error}`);
      } finally {
        lease.release();
      }
    }
  });

  test("prompt conditioning equals diffusers' refiner encode_prompt in PyTorch: bigG's penultimate states alone (128 wide here, 1280 in the real refiner), text_embeds; time_ids end in the aesthetic scores 6.0 / 2.5", async () => {
    const env = encoderServices(join(models, 'refiner'));
    try {
      const family = familyOf(env.model);
      const reference = await readSafetensors(refiner.textReference);
      const positive = await family.encodePrompt(reference.metadata.prompt, { width: 192, height: 128, options: {} }, env.model, env.services);
      assert.deepEqual(positive.hiddenStates.dims, [1, 77, 128]);
      assert.deepEqual(positive.extra.text_embeds.dims, [1, 128]);
      const hiddenError = relativeError(positive.hiddenStates.data, await reference.tensor('prompt_embeds'));
      const pooledError = relativeError(positive.extra.text_embeds.data, await reference.tensor('text_embeds'));
      console.log(`refiner prompt conditioning vs PyTorch: hidden states ${hiddenError.toExponential(2)}, text_embeds ${pooledError.toExponential(2)}`);
      assert.ok(hiddenError < 1e-5 && pooledError < 1e-5, `relative errors ${hiddenError}, ${pooledError}`);
      assert.deepEqual([...positive.extra.time_ids.data], [128, 192, 0, 0, 6]);
      // force_zeros_for_empty_prompt is false for the refiner: an empty negative prompt is encoded, not zeros.
      const negative = await family.encodePrompt('', { width: 192, height: 128, options: {}, role: 'negative' }, env.model, env.services);
      assert.deepEqual([...negative.extra.time_ids.data], [128, 192, 0, 0, 2.5]);
      assert.ok(negative.hiddenStates.data.some((v) => v !== 0) && negative.extra.text_embeds.data.some((v) => v !== 0));
      // prompt_2 is the refiner's only prompt when given (its only encoder is the second).
      const second = await family.encodePrompt(reference.metadata.prompt, { width: 192, height: 128, options: { prompt_2: 'a photo of a cat' } }, env.model, env.services);
      assert.ok(relativeError(second.hiddenStates.data, positive.hiddenStates.data) > 1e-3);
    } finally {
      await env.release();
    }
  });

  test('the refiner refines a base render (image-to-image) to the same pixels from every layout, deterministically', { timeout: 300_000 }, async () => {
    const base = await render('base', '');
    writeFileSync(join(project, 'base.png'), await encodePixelsToPng({ data: base.data, width: base.width, height: base.height, channels: 3 }));
    const init = 'init:\n  image: base.png\n  strength: 0.3\n';
    const refined = await render('refiner', init);
    const again = await render('refiner', init);
    assert.deepEqual(again.data, refined.data, 'same recipe, same pixels');
    const d = meanAbsDiff(refined, base);
    console.log(`mean |refined − base| at strength 0.3: ${d.toFixed(2)} of 255`);
    assert.ok(d > 0.5, `the refiner changes the image (${d})`);
    // The scene's aesthetic scores reach the time ids; at their defaults (6, 2.5) they change nothing.
    assert.deepEqual((await render('refiner', `${init}aesthetic_score: 6\nnegative_aesthetic_score: 2.5\n`)).data, refined.data, 'the defaults written out');
    const scored = meanAbsDiff(await render('refiner', `${init}aesthetic_score: 9\nnegative_aesthetic_score: 1\n`), refined);
    assert.ok(scored > 0.05, `other aesthetic scores change the refined image (${scored})`);
    for (const name of ['refiner-single-file', 'refiner-diffusers']) {
      const other = await render(name, init);
      const max = maxAbsDiff(other, refined);
      // Same weights, a different graph (float timestep, the builder's layout): within 2 of 255 per channel.
      assert.ok(max <= 2, `${name}: max pixel difference ${max} from the ONNX export's`);
    }
  });
});
