// Broken model files give a ModelError naming the file and the problem in plain words (never a crash,
// never onnxruntime's raw text alone).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { ModelError } from '../../../src/engine/errors';
import { componentModelPath, readOnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { OnnxSession } from '../../../src/engine/onnx/onnxSession';
import { UNet } from '../../../src/engine/model/unet';
import { CLIPTextEncoder } from '../../../src/engine/model/clipTextEncoder';
import { VAEDecoder } from '../../../src/engine/model/vaeDecoder';
import { fixture } from './onnxFixtures';

const root = mkdtempSync(join(tmpdir(), 'imgprompt-model-errors-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A copy of a fixture folder we may damage. */
function copyOf(name: string): string {
  const src = fixture(name).dir;
  const dir = join(root, `${name}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  for (const file of ['model.onnx', 'model.onnx_data']) {
    try {
      copyFileSync(join(src, file), join(dir, file));
    } catch {
      // not every fixture has external data
    }
  }
  return dir;
}

async function load(modelPath: string): Promise<OnnxSession> {
  return OnnxSession.create(await readOnnxModelFiles(modelPath), { intraOpNumThreads: 1 });
}

async function assertModelError(promise: Promise<unknown>, path: string, message: RegExp): Promise<ModelError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ModelError, `expected a ModelError, got ${String(error)}`);
    assert.equal(error.path, path);
    assert.match(error.message, message);
    assert.ok(error.message.startsWith(`${path}: `), error.message);
    return error;
  }
  assert.fail('expected a ModelError');
}

test('a missing component folder, and a folder without model.onnx', async () => {
  const missing = join(root, 'no-such-unet');
  await assertModelError(componentModelPath(missing), missing, /component folder not found/);
  await assertModelError(readOnnxModelFiles(join(missing, 'model.onnx')), missing, /component folder not found/);
  const empty = join(root, 'empty-unet');
  mkdirSync(empty);
  await assertModelError(componentModelPath(empty), join(empty, 'model.onnx'), /has no model\.onnx/);
  await assertModelError(readOnnxModelFiles(join(empty, 'model.onnx')), join(empty, 'model.onnx'), /model file not found/);
});

test('random bytes are not an ONNX model', async () => {
  const dir = copyOf('vae_decoder');
  const path = join(dir, 'model.onnx');
  let x = 12345;
  const bytes = Uint8Array.from({ length: 4096 }, () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 24));
  writeFileSync(path, bytes);
  await assertModelError(load(path), path, /not a valid ONNX model|truncated/);
  writeFileSync(path, '<html><body>404 Not Found</body></html>');
  await assertModelError(load(path), path, /not a valid ONNX model|truncated/);
  writeFileSync(path, '');
  await assertModelError(load(path), path, /empty \(0 bytes\)/);
});

test('a model.onnx cut in half is reported as truncated', async () => {
  const dir = copyOf('text_encoder_int32');
  const path = join(dir, 'model.onnx');
  const size = readFileSync(path).length;
  truncateSync(path, Math.floor(size / 2));
  await assertModelError(load(path), path, /truncated/);
});

test('every truncation of a model fails cleanly with a ModelError', async () => {
  const full = readFileSync(fixture('vae_decoder').modelPath);
  const dir = copyOf('vae_decoder');
  const path = join(dir, 'model.onnx');
  for (let length = 1; length < full.length; length += 97) {
    writeFileSync(path, full.subarray(0, length));
    await assert.rejects(load(path), (e: unknown) => e instanceof ModelError && e.path === path, `cut at ${length}`);
  }
});

test('missing external data names the file it needs', async () => {
  const dir = copyOf('unet_external_data');
  rmSync(join(dir, 'model.onnx_data'));
  await assertModelError(load(join(dir, 'model.onnx')), join(dir, 'model.onnx_data'), /external weights file 'model\.onnx_data'.*is missing/);
});

test('short external data is reported as truncated, with the sizes', async () => {
  const dir = copyOf('unet_external_data');
  const dataPath = join(dir, 'model.onnx_data');
  const size = readFileSync(dataPath).length;
  truncateSync(dataPath, size - 100);
  await assertModelError(load(join(dir, 'model.onnx')), dataPath, new RegExp(`truncated: it has ${size - 100} bytes but '.+' needs bytes up to ${size}`));
});

test('an external-data location outside the model folder is refused', async () => {
  const dir = copyOf('unet_external_data');
  const path = join(dir, 'model.onnx');
  // Same length as 'model.onnx_data', so the protobuf stays well-formed.
  const patched = Buffer.from(readFileSync(path).toString('latin1').replaceAll('model.onnx_data', '../x.onnx_data1'), 'latin1');
  writeFileSync(path, patched);
  await assertModelError(load(path), path, /outside the model's folder/);
});

test('an operator onnxruntime does not know: its error is wrapped and kept as detail', async () => {
  const dir = copyOf('vae_decoder');
  const path = join(dir, 'model.onnx');
  writeFileSync(path, Buffer.from(readFileSync(path).toString('latin1').replaceAll('Conv', 'Cxnv'), 'latin1'));
  const error = await assertModelError(load(path), path, /cannot run this model: it uses an operator.*onnxruntime said: .*Cxnv/);
  assert.ok(error.cause instanceof Error, 'the raw onnxruntime error is kept as cause');
});

test('a graph without the expected inputs or outputs names what it has', async () => {
  const decoder = await load(fixture('vae_decoder').modelPath);
  const path = fixture('vae_decoder').modelPath;
  assert.throws(() => new UNet(decoder), (e: unknown) => e instanceof ModelError && e.path === path && /cannot be used as a UNet: it has no input 'sample' \(its inputs are 'latent_sample'\)/.test(e.message));
  assert.throws(() => new CLIPTextEncoder(decoder), /no input 'input_ids'/);
  const unet = await load(fixture('unet_timestep_float32_batch').modelPath);
  assert.throws(() => new VAEDecoder(unet), /cannot be used as a VAE decoder: it has no input 'latent_sample'/);
  await decoder.dispose();
  await unet.dispose();
});

test('run-time failures (a wrong shape, a missing input) are ModelErrors naming the file', async () => {
  const f = fixture('unet_timestep_float32_batch');
  const session = await load(f.modelPath);
  await assertModelError(session.run({ sample: { data: [1], dims: [1, 1, 1, 1] } }), f.modelPath, /needs an input 'timestep'/);
  await assertModelError(
    session.run({ sample: { data: [1], dims: [1, 1, 1, 1] }, timestep: { data: [1], dims: [1] }, encoder_hidden_states: { data: [1], dims: [1, 1, 1] } }),
    f.modelPath,
    /input 'sample' must have shape \[batch, 4, height, width\] but was given \[1, 1, 1, 1\]/,
  );
  await assertModelError(
    session.run({
      sample: { data: new Float32Array(2 * 4 * 4 * 4), dims: [2, 4, 4, 4] },
      timestep: { data: [1, 1], dims: [2] },
      encoder_hidden_states: { data: new Float32Array(2 * 8 * 16), dims: [2, 8, 15 + 1] },
      bogus: { data: [1], dims: [1] },
    }),
    f.modelPath,
    /has no input 'bogus'/,
  );
  // Batch 3 against batch 2 conditioning: onnxruntime's own shape error, wrapped.
  await assertModelError(
    session.run({
      sample: { data: new Float32Array(3 * 4 * 4 * 4), dims: [3, 4, 4, 4] },
      timestep: { data: [1, 1, 1], dims: [3] },
      encoder_hidden_states: { data: new Float32Array(2 * 8 * 16), dims: [2, 8, 16] },
    }),
    f.modelPath,
    /failed while running the model; onnxruntime said: /,
  );
  await session.dispose();
});

test('random bit flips give a ModelError or a loadable model, never a crash or a foreign error', async () => {
  const original = readFileSync(fixture('vae_decoder').modelPath);
  const path = join(copyOf('vae_decoder'), 'model.onnx');
  let x = 7;
  for (let trial = 0; trial < 60; trial++) {
    const bytes = Buffer.from(original);
    for (let k = 0; k <= trial % 4; k++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      bytes[x % bytes.length] ^= 1 << ((x >>> 8) % 8);
    }
    writeFileSync(path, bytes);
    try {
      await (await load(path)).dispose();
    } catch (error) {
      assert.ok(error instanceof ModelError && error.path === path, `trial ${trial}: ${String(error)}`);
    }
  }
});
