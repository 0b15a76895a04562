// Same inputs => bit-identical outputs, across two runs of one session and across two sessions, with the
// engine's default options (deterministic compute, graph optimisation 'all') and several threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readOnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { OnnxSession } from '../../../src/engine/onnx/onnxSession';
import { UNet } from '../../../src/engine/model/unet';
import { VAEDecoder } from '../../../src/engine/model/vaeDecoder';
import type { FloatTensor } from '../../../src/engine/onnx/tensor';
import { fixture } from './onnxFixtures';

/** Deterministic pseudo-random floats in [-2, 2) (a 32-bit LCG; only the values' spread matters here). */
function values(n: number, seed: number): Float32Array {
  let x = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 4 - 2);
}

function sameBits(a: FloatTensor, b: FloatTensor): boolean {
  const ua = new Uint32Array(a.data.buffer, a.data.byteOffset, a.data.length);
  const ub = new Uint32Array(b.data.buffer, b.data.byteOffset, b.data.length);
  return a.dims.join() === b.dims.join() && ua.every((v, i) => v === ub[i]);
}

test('UNet and VAE outputs are bit-identical across runs and sessions (2 threads)', async () => {
  const options = { intraOpNumThreads: 2 };
  const unetFiles = await readOnnxModelFiles(fixture('unet_timestep_float32_batch').modelPath);
  const vaeFiles = await readOnnxModelFiles(fixture('vae_decoder').modelPath);
  const input = {
    sample: { data: values(2 * 4 * 32 * 32, 1), dims: [2, 4, 32, 32] },
    timestep: 500,
    encoderHiddenStates: { data: values(2 * 8 * 16, 2), dims: [2, 8, 16] },
  };
  const latents = { data: values(1 * 4 * 32 * 32, 3), dims: [1, 4, 32, 32] };
  const results: FloatTensor[][] = [];
  for (let s = 0; s < 2; s++) {
    const unet = new UNet(await OnnxSession.create(unetFiles, options));
    const vae = new VAEDecoder(await OnnxSession.create(vaeFiles, options));
    for (let r = 0; r < 2; r++) results.push([await unet.predict(input), await vae.decode(latents)]);
    await unet.session.dispose();
    await vae.session.dispose();
  }
  for (const [unetOut, vaeOut] of results.slice(1)) {
    assert.ok(sameBits(unetOut, results[0][0]), 'UNet output differs between runs/sessions');
    assert.ok(sameBits(vaeOut, results[0][1]), 'VAE output differs between runs/sessions');
  }
  assert.ok(results[0][0].data.some((v) => v !== 0) && results[0][0].data.every(Number.isFinite));
});
