// SDXL inputs beyond the prompt, on the seeded random-weight toy (tools/sdxl_random): textual-inversion
// embeddings with one tensor per encoder (clip_l, clip_g), image-to-image through the SDXL folder's VAE
// encoder, and a ControlNet-XL graph that takes the added conditioning (text_embeds, time_ids).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRenderService, type RenderService, type RGBImage } from '../../src/engine/index';
import { InputError } from '../../src/engine/errors';
import { stableDiffusionXL } from '../../src/engine/model/families/stableDiffusionXL';
import { initializerBytes, readOnnxModelFiles } from '../../src/engine/onnx/onnxModelFiles';
import { loadCLIPTokenizer } from '../../src/engine/tokenizer';
import { loadImageTensor } from '../../src/engine/image/loadImage';
import { imageTensorToRGB } from '../../src/engine/image/rgbImage';
import { acquireComponent } from '../../src/engine/model/componentLease';
import { readModelConfig } from '../../src/engine/model/modelConfig';
import { VAEDecoder } from '../../src/engine/model/vaeDecoder';
import { VAEEncoder } from '../../src/engine/model/vaeEncoder';
import { SessionCache } from '../../src/engine/onnx/sessionCache';
import { floatTensor } from '../../src/engine/onnx/tensor';
import { encodePixelsToPng } from '../../src/engine/output/encodePng';
import { divided, scaled } from '../../src/engine/pipeline/tensorMath';
import { TorchCPUGenerator } from '../../src/engine/rng';
import { ensureSdxlControlNet, ensureSdxlRandom, sdxlReferenceUnavailable } from '../scale/sdxlRandom';
import { ControlNet } from '../../src/engine/control/controlNet';
import { ModelError } from '../../src/engine/errors';
import { readSafetensors } from '../../src/engine/lora';
import type { FloatTensor } from '../../src/engine/onnx/tensor';
import { values, writeSafetensors } from '../unit/lora/loraFixtures';
import { encoderServices, type EncoderServices } from '../unit/prompt/encoderServices';
import { relativeError } from './relativeError';

const skip = sdxlReferenceUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'imgprompt-sdxl-inputs-'));
const project = join(dir, 'project');
let modelDir = '';
let service: RenderService | undefined;

before(() => {
  if (skip) return;
  const files = ensureSdxlRandom('toy');
  mkdirSync(join(project, '.git'), { recursive: true });
  mkdirSync(join(project, 'models'));
  mkdirSync(join(project, 'ti'));
  modelDir = join(project, 'models', 'sdxl');
  cpSync(files.onnx, modelDir, { recursive: true });
});
after(async () => {
  await service?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function render(extra: string, prompt = 'a red square on a blue background'): Promise<RGBImage> {
  service ??= await createRenderService({ threads: 2 });
  // Top-level keys of `extra` replace the base scene's.
  const base = `model: ./models/sdxl\nprompt: ${prompt}\nseed: 5\nsteps: 4\nguidance: 6\nsampler: euler\nsize: {width: 128, height: 128}\nwatermark: off\n`;
  const keys = new Set([...extra.matchAll(/^(\w+):/gm)].map((m) => m[1]));
  const text = `${base.split('\n').filter((line) => !keys.has(line.split(':')[0])).join('\n')}\n${extra}`;
  const file = join(project, `scene-${Math.random().toString(36).slice(2)}.imgprompt`);
  writeFileSync(file, text);
  const plan = await service.plan({ file, context: { projectRoot: project } });
  assert.ok(plan.jobs[0], `no job planned for ${file}: ${JSON.stringify(plan, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v)).slice(0, 1500)}`);
  return (await service.render(plan.jobs[0].job)).image;
}

function meanAbsDiff(a: RGBImage, b: RGBImage): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i] - b.data[i]);
  return sum / a.data.length;
}

const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** The rows of `words`' tokens in an encoder's exported token table. */
async function tokenRows(component: string, tokenizer: string, words: string): Promise<{ vectors: number[]; count: number; width: number }> {
  const tok = await loadCLIPTokenizer(join(modelDir, tokenizer));
  const ids = tok.encode(words);
  const files = await readOnnxModelFiles(join(modelDir, component, 'model.onnx'));
  const table = files.info.initializers.find((i) => i.name.endsWith('token_embedding.weight'))!;
  const bytes = initializerBytes(files, table)!;
  const rows = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  const width = table.dims[1];
  return { vectors: [...ids].flatMap((id) => [...rows.subarray(id * width, (id + 1) * width)]), count: ids.length, width };
}

describe('SDXL textual-inversion embeddings (clip_l and clip_g, one per encoder)', { skip }, () => {
  let env: EncoderServices;
  let both = '';
  let mixed = '';
  before(async () => {
    env = encoderServices(modelDir);
    // clip_l holds "red square" of the first encoder's table, clip_g the same words of the second's.
    const l = await tokenRows('text_encoder', 'tokenizer', 'red square');
    const g = await tokenRows('text_encoder_2', 'tokenizer_2', 'red square');
    assert.notEqual(l.width, g.width, 'the toy encoders have different widths');
    both = writeSafetensors(join(project, 'ti'), 'redsq.safetensors', [
      { name: 'clip_g', dtype: 'F32', shape: [g.count, g.width], values: g.vectors },
      { name: 'clip_l', dtype: 'F32', shape: [l.count, l.width], values: l.vectors },
    ]);
    // The first encoder's words, but other vectors for the second: only the second encoder's half changes.
    mixed = writeSafetensors(join(project, 'ti'), 'mixed.safetensors', [
      { name: 'clip_g', dtype: 'F32', shape: [1, g.width], values: values(g.width, 7, 0.05) },
      { name: 'clip_l', dtype: 'F32', shape: [l.count, l.width], values: l.vectors },
    ]);
  });
  after(() => env.release());

  const encode = (text: string, embeddings: { name: string; byName: boolean; path: string }[], role?: 'negative') =>
    stableDiffusionXL.encodePrompt(text, { width: 128, height: 128, options: {}, embeddings, ...(role ? { role } : {}) }, env.model, env.services);

  test('an embedding holding the token rows of "red square" (per encoder) encodes exactly as those words: hidden states of both encoders and text_embeds', async () => {
    const words = await encode('a red square on a blue background', []);
    for (const [label, text, embeddings] of [
      ['by file name (A1111)', 'a redsq on a blue background', [{ name: 'redsq', byName: true, path: both }]],
      ['as embedding:REF (ComfyUI)', 'a embedding:ti/redsq.safetensors on a blue background', [{ name: 'ti/redsq.safetensors', byName: false, path: both }]],
    ] as const) {
      const a = await encode(text, [...embeddings]);
      assert.ok(same(a.hiddenStates.data, words.hiddenStates.data), `${label}: hidden states differ`);
      assert.ok(same(a.extra.text_embeds.data, words.extra.text_embeds.data), `${label}: text_embeds differ`);
    }
    // Weighted, too: emphasis applies to the embedding's tokens as to the words'.
    const weighted = await encode('a (redsq:1.3) on a blue background', [{ name: 'redsq', byName: true, path: both }]);
    const weightedWords = await encode('a (red square:1.3) on a blue background', []);
    assert.ok(same(weighted.hiddenStates.data, weightedWords.hiddenStates.data), 'weighted: hidden states differ');
  });

  test("each encoder reads its own tensor: other clip_g vectors change only the second encoder's half and text_embeds", async () => {
    const words = await encode('a red square on a blue background', []);
    const a = await encode('a mixed on a blue background', [{ name: 'mixed', byName: true, path: mixed }]);
    const [, n, width] = words.hiddenStates.dims;
    const first = env.model.textEncoder.hiddenSize;
    let firstDiff = 0;
    let secondDiff = 0;
    for (let t = 0; t < n; t++) {
      for (let c = 0; c < width; c++) {
        const d = Math.abs(a.hiddenStates.data[t * width + c] - words.hiddenStates.data[t * width + c]);
        if (c < first) firstDiff = Math.max(firstDiff, d);
        else secondDiff = Math.max(secondDiff, d);
      }
    }
    assert.equal(firstDiff, 0, 'the first encoder (clip_l) sees the words');
    assert.ok(secondDiff > 1e-3, `the second encoder (clip_g) sees other vectors (max diff ${secondDiff})`);
    assert.ok(!same(a.extra.text_embeds.data, words.extra.text_embeds.data), 'text_embeds come from the second encoder');
  });

  test('a render with the embedding equals the render with the words; wrong files are clear errors', { timeout: 600_000 }, async () => {
    const words = await render('');
    const withEmbedding = await render('', 'a embedding:ti/redsq.safetensors on a blue background');
    assert.deepEqual(withEmbedding.data, words.data, "same pixels as the words");

    const l = env.model.textEncoder.hiddenSize;
    const sd15 = writeSafetensors(join(project, 'ti'), 'sd15.safetensors', [{ name: 'emb_params', dtype: 'F32', shape: [1, l], values: values(l, 3) }]);
    await assert.rejects(encode('a sd15', [{ name: 'sd15', byName: true, path: sd15 }]), (e: Error) => e instanceof InputError && /needs an SDXL embedding.*'emb_params'/.test(e.message) && e.message.includes(sd15));
    const wideL = writeSafetensors(join(project, 'ti'), 'widel.safetensors', [
      { name: 'clip_g', dtype: 'F32', shape: [1, 128], values: values(128, 4) },
      { name: 'clip_l', dtype: 'F32', shape: [1, 768], values: values(768, 5) },
    ]);
    await assert.rejects(encode('a widel', [{ name: 'widel', byName: true, path: wideL }]), (e: Error) => e instanceof InputError && /'clip_l' has shape \[1, 768\].*width 64/.test(e.message) && e.message.includes(wideL));
    const wideG = writeSafetensors(join(project, 'ti'), 'wideg.safetensors', [
      { name: 'clip_g', dtype: 'F32', shape: [1, 1280], values: values(1280, 4) },
      { name: 'clip_l', dtype: 'F32', shape: [1, l], values: values(l, 5) },
    ]);
    await assert.rejects(encode('a wideg', [{ name: 'wideg', byName: true, path: wideG }]), (e: Error) => e instanceof InputError && /'clip_g' holds vectors of width 1280.*128 wide/.test(e.message) && e.message.includes(wideG));
    // Through the render service too: the scene names the file, the error names it back.
    await assert.rejects(render('', 'a embedding:ti/wideg.safetensors'), /width 1280/);
  });
});

describe('SDXL image-to-image (the SDXL folder\'s VAE encoder, SDXL scaling)', { skip }, () => {
  let init = '';
  before(async () => {
    // The init image is another render (another prompt and seed), so the prompt alone cannot explain it.
    const source = await render('seed: 11\n', 'a green circle on a yellow background');
    init = join(project, 'init.png');
    writeFileSync(init, await encodePixelsToPng({ data: source.data, width: source.width, height: source.height, channels: 3 }));
  });

  // A scene's strength is above 0 and must leave a step to run: 0.25 of 4 steps runs the last (lowest-noise) one.
  test("the lowest strength stays nearest the init image's VAE round trip (SDXL VAE encoder and decoder, SDXL scaling)", { timeout: 600_000 }, async () => {
    const model = readModelConfig(modelDir);
    const scale = stableDiffusionXL.latentScale(model);
    assert.equal(scale, 0.13025, "the toy's VAE states SDXL's scaling factor");
    // The reference: encode (posterior sampled with the seed's generator, as diffusers' img2img), scale, unscale, decode.
    const cache = new SessionCache();
    let roundTrip: RGBImage;
    try {
      const encoder = await acquireComponent(cache, join(modelDir, 'vae_encoder'), VAEEncoder, { options: { intraOpNumThreads: 2, deterministic: true } });
      const decoder = await acquireComponent(cache, join(modelDir, 'vae_decoder'), VAEDecoder, { options: { intraOpNumThreads: 2, deterministic: true } });
      const rng = new TorchCPUGenerator(5n);
      const encoded = await encoder.component.encode(await loadImageTensor(init, { width: 128, height: 128 }), { mode: 'sample', randn: (count) => rng.randn([count]) });
      roundTrip = imageTensorToRGB(await decoder.component.decode(floatTensor(divided(scaled(encoded.data, scale), scale), encoded.dims)));
      encoder.release();
      decoder.release();
    } finally {
      await cache.clear();
    }
    const lowest = await render('init:\n  image: init.png\n  strength: 0.25\n');
    const half = await render('init:\n  image: init.png\n  strength: 0.5\n');
    const high = await render('init:\n  image: init.png\n  strength: 0.8\n');
    const free = await render('');
    const d = [lowest, half, high, free].map((image) => meanAbsDiff(image, roundTrip));
    console.log(`mean |render − round trip| at strength 0.25, 0.5, 0.8, text-to-image: ${d.map((x) => x.toFixed(2)).join(', ')}`);
    // Random weights: past one step the toy's UNet pulls every render to its own picture, so only the
    // single-step render is ordered against the others.
    assert.ok(d[0] < d[1] && d[0] < d[2], `the lowest strength is nearest the init (${d.join(', ')})`);
    assert.ok(d[0] < 0.75 * d[3], 'the lowest strength stays nearer the init than a free render');
  });

  test('strength changes the output, deterministically; a non-square output resizes the init to its size', { timeout: 600_000 }, async () => {
    const lowest = await render('init:\n  image: init.png\n  strength: 0.25\n');
    const low = await render('init:\n  image: init.png\n  strength: 0.5\n');
    const again = await render('init:\n  image: init.png\n  strength: 0.5\n');
    const high = await render('init:\n  image: init.png\n  strength: 0.8\n');
    const free = await render('');
    assert.deepEqual(again.data, low.data, 'same recipe, same pixels');
    assert.ok(meanAbsDiff(low, lowest) > 0.5, `strength 0.5 differs from 0.25 (${meanAbsDiff(low, lowest)})`);
    assert.ok(meanAbsDiff(high, low) > 0.5, `strength 0.8 differs from 0.5 (${meanAbsDiff(high, low)})`);
    assert.ok(meanAbsDiff(high, free) > 0.5, 'the init image still shapes a strength 0.8 render');
    const wide = await render('init:\n  image: init.png\n  strength: 0.5\nsize: {width: 192, height: 128}\n');
    assert.deepEqual([wide.width, wide.height], [192, 128]);
  });

  test("time_ids: the encoded image's size as original and target size; the refiner (requires_aesthetics_score) takes 6.0 / 2.5 aesthetic scores instead of the target size, as diffusers' SDXL img2img", async () => {
    const env = encoderServices(modelDir);
    try {
      const at = (model: typeof env.model, role?: 'negative', options: Record<string, number> = {}) =>
        stableDiffusionXL.encodePrompt(role ? '' : 'a red square', { width: 192, height: 128, options, ...(role ? { role } : {}) }, model, env.services);
      assert.deepEqual([...(await at(env.model)).extra.time_ids.data], [128, 192, 0, 0, 128, 192]);
      const refinerDir = join(dir, 'refiner-config');
      cpSync(modelDir, refinerDir, { recursive: true, filter: (p) => !p.endsWith('.onnx') && !p.endsWith('.onnx_data') && !p.includes('model.onnx') });
      const index = JSON.parse(readFileSync(join(modelDir, 'model_index.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(join(refinerDir, 'model_index.json'), JSON.stringify({ ...index, requires_aesthetics_score: true }));
      const refiner = { ...env.model, requiresAestheticsScore: readModelConfig(refinerDir).requiresAestheticsScore };
      assert.equal(refiner.requiresAestheticsScore, true, 'read from model_index.json');
      const positive = await at(refiner);
      assert.deepEqual(positive.extra.time_ids.dims, [1, 5]);
      assert.deepEqual([...positive.extra.time_ids.data], [128, 192, 0, 0, 6]);
      assert.deepEqual([...(await at(refiner, 'negative')).extra.time_ids.data], [128, 192, 0, 0, 2.5]);
      assert.deepEqual([...(await at(refiner, undefined, { aesthetic_score: 7 })).extra.time_ids.data], [128, 192, 0, 0, 7]);
    } finally {
      await env.release();
    }
  });
});

describe('ControlNet-XL: the added conditioning (text_embeds, time_ids) reaches a ControlNet graph that declares it', { skip }, () => {
  // tools/sdxl_random/make_controlnet.py: the toy UNet's down path + seeded conditioning embedding and
  // 1x1 convs, exported to ONNX, with PyTorch outputs on seeded inputs. Cached beside the toy model.
  let controlNetDir = '';
  let referencePath = '';
  const cache = new SessionCache();
  before(() => {
    ({ dir: controlNetDir, reference: referencePath } = ensureSdxlControlNet());
  });
  after(() => cache.clear());

  test('the ControlNet-XL export equals the PyTorch module with text_embeds and time_ids fed (relative error < 1e-4); other added conditioning changes the residuals; an SD-style call without it is a clear error', async () => {
    const reference = await readSafetensors(referencePath);
    const read = async (name: string): Promise<FloatTensor> => floatTensor(await reference.tensor(name), reference.tensors.get(name)!.shape);
    const lease = await acquireComponent(cache, controlNetDir, ControlNet, { options: { intraOpNumThreads: 2, deterministic: true } });
    try {
      const net = lease.component;
      assert.deepEqual(net.addedInputs, ['text_embeds', 'time_ids']);
      const timestep = await read('timestep');
      const base = {
        sample: await read('sample'),
        timestep: timestep.data[0],
        encoderHiddenStates: await read('encoder_hidden_states'),
        hint: await read('controlnet_cond'),
        scale: (await read('conditioning_scale')).data[0],
      };
      const extra = { text_embeds: await read('text_embeds'), time_ids: await read('time_ids') };
      const out = await net.predict({ ...base, extra });
      assert.equal(out.down.length, net.outputs.down.length);
      let worst = 0;
      for (const [i, d] of out.down.entries()) worst = Math.max(worst, relativeError(d.data, await reference.tensor(`down_block_res_sample_${i}`)));
      worst = Math.max(worst, relativeError(out.mid.data, await reference.tensor('mid_block_res_sample')));
      console.log(`ControlNet-XL ONNX vs PyTorch: relative error ${worst.toExponential(2)}`);
      assert.ok(worst < 1e-4, `ControlNet-XL relative error ${worst}`);
      // The graph really reads both: other values change the residuals.
      const zeroEmbeds = await net.predict({ ...base, extra: { ...extra, text_embeds: floatTensor(new Float32Array(extra.text_embeds.data.length), extra.text_embeds.dims) } });
      assert.ok(relativeError(zeroEmbeds.mid.data, out.mid.data) > 1e-3, 'text_embeds change the mid residual');
      const otherSize = await net.predict({ ...base, extra: { ...extra, time_ids: floatTensor(Float32Array.from([1024, 1024, 0, 0, 1024, 1024, 1024, 1024, 0, 0, 1024, 1024]), [2, 6]) } });
      assert.ok(relativeError(otherSize.mid.data, out.mid.data) > 1e-3, 'time_ids change the mid residual');
      await assert.rejects(net.predict(base), (e: Error) => e instanceof ModelError && /takes 'text_embeds'.*SDXL ControlNet needs an SDXL model/.test(e.message));
    } finally {
      lease.release();
    }
  });
});
