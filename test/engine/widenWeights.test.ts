// Large float16 models have their weights widened to float32 in an overlay file before onnxruntime loads
// them (onnx/widenWeights.ts), instead of onnxruntime folding the Cast / Transpose nodes in memory. On the
// seeded toy SD 1.5 model's fp16 single file, converted into a linked folder (float16 weights behind Cast,
// linear ones behind Cast + Transpose), with the threshold lowered to 0:
// - the widened graph has no Cast of a float16 weight left, its new initializers are float32 in the
//   overlay (4 KiB-aligned), and the folder's own files are untouched;
// - the UNet computes exactly the bytes the unwidened session computes, on a first load (which stores the
//   optimized-graph cache entry) and on the cache hit that follows;
// - the overlay is gone once the session exists, and none is made under the threshold.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { acquireComponent, convertCheckpoint, floatTensor, OnnxSession, SessionCache, UNet, type OnnxSessionOptions } from '../../src/engine/index';
import { readOnnxModelFiles, type OnnxModelFiles } from '../../src/engine/onnx/onnxModelFiles';
import { widenFloat16Weights } from '../../src/engine/onnx/widenWeights';
import { ensureSd15Checkpoints, sd15ReferenceUnavailable } from '../scale/sd15Random';

const skip = sd15ReferenceUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'imgprompt-widen-'));
let unetDir = '';

before(async () => {
  if (skip) return;
  const { onnx, checkpoints } = ensureSd15Checkpoints('toy');
  const out = join(dir, 'converted');
  await convertCheckpoint(join(checkpoints, 'sd15-random-toy-fp16.safetensors'), { out, tokenizerDir: join(onnx, 'tokenizer') });
  unetDir = join(out, 'unet');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Casts of a float16 initializer in a graph. */
function castsOfHalf(files: OnnxModelFiles): number {
  const half = new Set(files.info.initializers.filter((i) => i.dataType === 10).map((i) => i.name));
  return files.info.nodes.filter((n) => n.opType === 'Cast' && half.has(n.inputs[0])).length;
}

/**
 * One UNet call (batch 2, 8×8 latents) on fixed inputs, through a session cache made with
 * `widenMinBytes`; `loaded` receives the Casts of float16 weights in each graph handed to onnxruntime.
 */
async function unetCall(widenMinBytes: number | undefined, optimizedCacheDir: string, loaded: number[] = []): Promise<Float32Array> {
  const createSession = (files: OnnxModelFiles, options: OnnxSessionOptions) => {
    loaded.push(castsOfHalf(files));
    return OnnxSession.create(files, options);
  };
  const sessions = new SessionCache({ widenMinBytes, createSession });
  const lease = await acquireComponent(sessions, unetDir, UNet, { options: { intraOpNumThreads: 1, optimizedCacheDir } });
  try {
    const n = (count: number, f: (i: number) => number) => Float32Array.from({ length: count }, (_, i) => f(i));
    const out = await lease.component.predict({
      sample: floatTensor(n(2 * 4 * 8 * 8, (i) => Math.sin(i * 0.37)), [2, 4, 8, 8]),
      timestep: [501, 501],
      encoderHiddenStates: floatTensor(n(2 * 77 * 64, (i) => Math.cos(i * 0.11)), [2, 77, 64]),
    });
    return Float32Array.from(out.data);
  } finally {
    lease.release();
    await sessions.clear();
  }
}

const identical = (a: Float32Array, b: Float32Array) => a.length === b.length && Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer)) === 0;

describe('float16 weights widened into an overlay before onnxruntime loads them', { skip }, () => {
  test('the widened graph: no Cast of a float16 weight left; float32 weights in an aligned overlay; nothing under the threshold', async () => {
    const files = await readOnnxModelFiles(join(unetDir, 'model.onnx'));
    assert.ok(castsOfHalf(files) > 0, 'the linked conversion keeps float16 weights behind Casts');
    assert.equal(await widenFloat16Weights(files), undefined, 'a toy model is under the default threshold');
    const stats = readdirSync(unetDir).map((f) => [f, statSync(join(unetDir, f)).mtimeMs]);
    const widened = await widenFloat16Weights(files, { minBytes: 0, dir: join(dir, 'overlays') });
    assert.ok(widened);
    try {
      assert.equal(castsOfHalf(widened.files), 0);
      assert.equal(widened.tensors, castsOfHalf(files));
      const overlay = widened.files.externalData.at(-1)!;
      const added = widened.files.info.initializers.filter((i) => i.data.kind === 'external' && i.data.location === overlay.location);
      assert.equal(added.length, widened.tensors);
      for (const i of added) {
        assert.equal(i.dataType, 1, `${i.name} is float32`);
        assert.equal(i.data.kind === 'external' && i.data.offset % 4096, 0, `${i.name} starts on a 4 KiB boundary`);
      }
      assert.equal(added.reduce((s, i) => s + i.dims.reduce((n, d) => n * d, 1) * 4, 0), widened.bytes);
      assert.ok(existsSync(overlay.path));
      assert.deepEqual(readdirSync(unetDir).map((f) => [f, statSync(join(unetDir, f)).mtimeMs]), stats, 'the converted folder is not written');
    } finally {
      widened.dispose();
    }
    assert.equal(existsSync(dirname(widened.files.externalData.at(-1)!.path)), false, 'dispose removes the overlay');
  });

  test('the widened UNet computes the bytes of the unwidened one, on a first load and on a cache hit; no overlay is left', { timeout: 600_000 }, async () => {
    const plainCache = join(dir, 'optimized-plain');
    const widenedCache = join(dir, 'optimized-widened');
    const loads: number[] = [];
    const plain = await unetCall(undefined, plainCache, loads);
    assert.ok(loads.length === 1 && loads[0] > 0, `the toy UNet is loaded unwidened by default (${loads})`);
    const first = await unetCall(0, widenedCache, loads);
    assert.equal(loads[1], 0, 'the graph handed to onnxruntime had its float16 weights widened');
    assert.ok(identical(first, plain), 'first load (entry stored) equals the unwidened session');
    const entries = readdirSync(widenedCache);
    assert.ok(entries.some((e) => /^[0-9a-f]{64}$/.test(e)), `an entry was stored: ${entries.join(', ')}`);
    assert.deepEqual(entries.filter((e) => e.startsWith('.tmp-')), [], 'no overlay or temporary folder is left');
    const hit = await unetCall(0, widenedCache);
    assert.ok(identical(hit, plain), 'cache hit equals the unwidened session');
  });
});
