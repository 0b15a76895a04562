// The shipped tiny-shapes preview decoder against the real VAE decoder: a scene drawn here is encoded with
// the model's VAE encoder, and the preview of its (scaled) latents must be close to the VAE decoder's image
// of the same latents (measured: 34.8 dB on 200 held-out training latents by train_preview_decoder.py
// --eval, 33.4 and 32.5 dB on the two scenes drawn here; bound 31 dB) and far closer than the linear map.
// Config handling (scaled/unscaled input, [0, 1] output) is checked against the default path; graphs with
// the wrong inputs/outputs and bad config.json files are ModelErrors naming the file.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelError } from '../../../src/engine/errors';
import { fitLatentRGBFactors, latentToPreviewRGB } from '../../../src/engine/image/latentPreview';
import { byteToUnit } from '../../../src/engine/image/rgbImage';
import { readModelConfig } from '../../../src/engine/model/modelConfig';
import { readOnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { OnnxSession } from '../../../src/engine/onnx/onnxSession';
import {
  DEFAULT_PREVIEW_DECODER_CONFIG,
  PREVIEW_DECODER_FOLDER,
  PreviewDecoder,
  parsePreviewDecoderConfig,
  readPreviewDecoderConfig,
} from '../../../src/engine/model/previewDecoder';
import type { FloatTensor } from '../../../src/engine/onnx/tensor';
import { VAEDecoder } from '../../../src/engine/model/vaeDecoder';
import { VAEEncoder } from '../../../src/engine/model/vaeEncoder';
import { fixture } from './onnxFixtures';

const MODEL_DIR = join(__dirname, '..', '..', '..', 'models', 'tiny-shapes');
const PREVIEW_DIR = join(MODEL_DIR, PREVIEW_DECODER_FOLDER);
const root = mkdtempSync(join(tmpdir(), 'imgprompt-preview-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function load(modelPath: string): Promise<OnnxSession> {
  return OnnxSession.create(await readOnnxModelFiles(modelPath), { intraOpNumThreads: 1 });
}

/** A tiny-shapes-like scene in [-1, 1], [1, 3, h, w]: a flat background, a disc and a square, 4x4 supersampled. */
function drawScene(width: number, height: number): FloatTensor {
  const background = [40, 80, 220];
  const shapes = [
    { inside: (x: number, y: number) => (x - 0.3 * width) ** 2 + (y - 0.35 * height) ** 2 < (0.2 * Math.min(width, height)) ** 2, colour: [245, 215, 40] },
    { inside: (x: number, y: number) => Math.abs(x - 0.7 * width) < 0.12 * width && Math.abs(y - 0.68 * height) < 0.12 * width, colour: [220, 40, 40] },
  ];
  const plane = width * height;
  const data = new Float32Array(3 * plane);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sum = [0, 0, 0];
      for (let sy = 0; sy < 4; sy++) {
        for (let sx = 0; sx < 4; sx++) {
          const px = x + (sx + 0.5) / 4;
          const py = y + (sy + 0.5) / 4;
          const c = shapes.find((s) => s.inside(px, py))?.colour ?? background;
          for (let k = 0; k < 3; k++) sum[k] += c[k];
        }
      }
      for (let k = 0; k < 3; k++) data[k * plane + y * width + x] = byteToUnit(Math.round(sum[k] / 16));
    }
  }
  return { data, dims: [1, 3, height, width] };
}

/** PSNR in dB of two same-shaped tensors in [-1, 1] (peak-to-peak 2), both clamped to that range. */
function psnr(a: FloatTensor, b: FloatTensor): number {
  assert.deepEqual(a.dims, b.dims);
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.min(1, Math.max(-1, a.data[i])) - Math.min(1, Math.max(-1, b.data[i]));
    sum += d * d;
  }
  return 10 * Math.log10(4 / (sum / a.data.length));
}

function scaled(t: FloatTensor, by: number): FloatTensor {
  return { data: t.data.map((v) => v * by), dims: t.dims };
}

test('the shipped preview decoder: config, shape, range, and close to the real VAE decoder', async () => {
  const config = await readPreviewDecoderConfig(PREVIEW_DIR);
  const model = readModelConfig(MODEL_DIR);
  assert.equal(config.input, 'scaled');
  assert.equal(config.scalingFactor, model.vae.scalingFactor, 'trained for this model\'s latent scaling');
  assert.deepEqual(config.outputRange, [-1, 1]);

  const preview = new PreviewDecoder(await load(join(PREVIEW_DIR, 'model.onnx')), config);
  const encoder = new VAEEncoder(await load(join(MODEL_DIR, 'vae_encoder', 'model.onnx')));
  const decoder = new VAEDecoder(await load(join(MODEL_DIR, 'vae_decoder', 'model.onnx')));
  try {
    for (const [width, height] of [[128, 128], [160, 96]]) {
      const latents = await encoder.encode(drawScene(width, height));
      assert.deepEqual(latents.dims, [1, 4, height / 8, width / 8]);
      const unetLatents = scaled(latents, model.vae.scalingFactor);
      const real = await decoder.decode(latents);
      const fast = await preview.decode(unetLatents);
      assert.deepEqual(fast.dims, [1, 3, height, width]);
      assert.ok(fast.data.every((v) => v >= -1 && v <= 1), 'values in [-1, 1]');
      const p = psnr(fast, real);
      assert.ok(p > 31, `preview vs VAE decoder at ${width}x${height}: ${p.toFixed(2)} dB, expected > 31`);

      // The linear fallback, fitted on this very sample (its best case) and shown 8x enlarged.
      const factors = fitLatentRGBFactors(unetLatents, real);
      const rgb = latentToPreviewRGB(unetLatents.data, width / 8, height / 8, factors);
      const linear = new Float32Array(3 * width * height);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const i = (Math.floor(y / 8) * (width / 8) + Math.floor(x / 8)) * 3;
          for (let k = 0; k < 3; k++) linear[k * width * height + y * width + x] = byteToUnit(rgb[i + k]);
        }
      }
      const pl = psnr({ data: linear, dims: real.dims }, real);
      assert.ok(p > pl + 8, `preview ${p.toFixed(2)} dB should beat the linear map ${pl.toFixed(2)} dB by 8 dB`);

      const image = await preview.decodeToRGB(unetLatents);
      assert.equal(image.width, width);
      assert.equal(image.height, height);
      assert.equal(image.data.length, width * height * 3);
    }
  } finally {
    await Promise.all([preview.session.dispose(), encoder.session.dispose(), decoder.session.dispose()]);
  }
});

test('config: unscaled input is divided by scaling_factor, a [0, 1] output is mapped to [-1, 1]', async () => {
  const session = await load(join(PREVIEW_DIR, 'model.onnx'));
  try {
    const latents = { data: Float32Array.from({ length: 4 * 8 * 12 }, (_, i) => 1.5 * Math.sin(i * 0.7)), dims: [1, 4, 8, 12] };
    const plain = await new PreviewDecoder(session).decode(latents);
    assert.deepEqual(plain.dims, [1, 3, 64, 96]);
    // 'unscaled' with factor 0.5 feeds latents / 0.5: the same as the default path on 2x the latents.
    const halved = new PreviewDecoder(session, { ...DEFAULT_PREVIEW_DECODER_CONFIG, input: 'unscaled', scalingFactor: 0.5 });
    const doubled = await new PreviewDecoder(session).decode(scaled(latents, 2));
    const viaConfig = await halved.decode(latents);
    assert.ok(viaConfig.data.every((v, i) => Math.abs(v - doubled.data[i]) < 1e-6));
    assert.ok(viaConfig.data.some((v, i) => Math.abs(v - plain.data[i]) > 1e-3), 'the division changes the input');
    // Declaring the graph's output as [0, 1] maps v to clamp(2v - 1).
    const Unit = PreviewDecoder.withConfig({ ...DEFAULT_PREVIEW_DECODER_CONFIG, outputRange: [0, 1] });
    const unit = await new Unit(session).decode(latents);
    assert.ok(unit.data.every((v, i) => Math.abs(v - Math.min(1, Math.max(-1, 2 * plain.data[i] - 1))) < 1e-6));
    await assert.rejects(new PreviewDecoder(session).decode({ data: new Float32Array(3 * 4), dims: [1, 3, 2, 2] }), RangeError);
  } finally {
    await session.dispose();
  }
});

test('a graph with the wrong inputs or outputs is a ModelError naming the file', async () => {
  const isModelError = (path: string, message: RegExp) => (e: unknown) => e instanceof ModelError && e.path === path && message.test(e.message);
  const encoderPath = fixture('vae_encoder_latent_sample').modelPath;
  const encoder = await load(encoderPath);
  assert.throws(() => new PreviewDecoder(encoder), isModelError(encoderPath, /cannot be used as a preview decoder: it has no input 'latent_sample' \(its inputs are 'sample'/));
  await encoder.dispose();

  // The shipped graph with its output renamed ("sample" is a length-prefixed protobuf string).
  const bytes = readFileSync(join(PREVIEW_DIR, 'model.onnx'));
  const renamed = Buffer.from(bytes.toString('latin1').replaceAll('\x06sample', '\x06pixels'), 'latin1');
  assert.notDeepEqual(renamed, bytes);
  const path = join(root, 'renamed.onnx');
  writeFileSync(path, renamed);
  const session = await load(path);
  assert.throws(() => new PreviewDecoder(session), isModelError(path, /no output 'sample' .*its outputs are 'pixels'/));
  const shipped = await load(join(PREVIEW_DIR, 'model.onnx'));
  assert.throws(
    () => new PreviewDecoder(shipped, { ...DEFAULT_PREVIEW_DECODER_CONFIG, latentChannels: 16 }),
    isModelError(join(PREVIEW_DIR, 'model.onnx'), /'latent_sample' takes 4 channels; the latents have 16/),
  );
  await session.dispose();
  await shipped.dispose();
});

test('config.json: missing, malformed or meaningless values are ModelErrors naming the file', async () => {
  const dir = join(root, 'configs');
  mkdirSync(dir);
  const path = join(dir, 'config.json');
  await assert.rejects(readPreviewDecoderConfig(dir), (e: unknown) => e instanceof ModelError && e.path === path && /cannot read/.test(e.message));
  writeFileSync(path, '{"input": "scaled",');
  await assert.rejects(readPreviewDecoderConfig(dir), (e: unknown) => e instanceof ModelError && e.path === path && /not valid JSON/.test(e.message));
  writeFileSync(path, ' '.repeat(70 * 1024));
  await assert.rejects(readPreviewDecoderConfig(dir), /at most 65536/);
  writeFileSync(path, '{"input": "unscaled", "scaling_factor": 0.18215, "output_range": [0, 1]}');
  assert.deepEqual(await readPreviewDecoderConfig(dir), { input: 'unscaled', scalingFactor: 0.18215, outputRange: [0, 1], latentChannels: 4 });
  const bad: [unknown, RegExp][] = [
    [[], /must hold a JSON object/],
    [{}, /"input" must be "scaled" or "unscaled".*missing/],
    [{ input: 'raw' }, /"input" must be/],
    [{ input: 'unscaled' }, /needs "scaling_factor"/],
    [{ input: 'scaled', scaling_factor: -1 }, /positive number/],
    [{ input: 'scaled', output_range: [0, 255] }, /"output_range" must be/],
    [{ input: 'scaled', latent_channels: 2.5 }, /"latent_channels"/],
  ];
  for (const [raw, message] of bad) {
    assert.throws(() => parsePreviewDecoderConfig(raw, 'x/config.json'), (e: unknown) => e instanceof ModelError && e.path === 'x/config.json' && message.test(e.message), JSON.stringify(raw));
  }
});
