// LoRA patching beyond what memory holds: a weight stored past byte 2^32 of a sparse external-data file
// (4 GiB + 8 KiB on disk as a size, a few KiB in blocks) is read by its range, merged, written to an
// overlay, and the session reads the rest of the weights where they were. The expected output is
// computed here: y = (x · (W + scale · (up · down)ᵀ) + b) · V in float64, V untouched and read from the original file.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLora, loraWeightPatch } from '../../../src/engine/lora';
import { ExternalDataWriter, GraphBuilder, ONNX_FLOAT } from '../../../src/engine/onnx/graphBuilder';
import { readOnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { parseOnnxModel } from '../../../src/engine/onnx/onnxProto';
import { SessionCache } from '../../../src/engine/onnx/sessionCache';
import { safetensorsBytes } from './loraFixtures';

const dir = mkdtempSync(join(tmpdir(), 'imgprompt-range-'));
const sessions = new SessionCache();
after(async () => {
  await sessions.clear();
  rmSync(dir, { recursive: true, force: true });
});

const IN = 64;
const OUT = 32;
const RANK = 2;
const BEYOND_4_GIB = 2 ** 32 + 4096;

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 30 - 1;
  });
}

/** model.onnx: y = (x @ W + b) @ V: W [IN, OUT] and V [OUT, OUT] external from `offset` of model.onnx_data, b inline. */
function writeModel(folder: string, w: Float32Array, offset: number): void {
  const dataPath = join(folder, 'model.onnx_data');
  const fd = openSync(dataPath, 'w');
  // The tensors land from `offset` on: a sparse file, so 4 GiB of size costs no disk or memory.
  let position = offset;
  const writer = {
    location: 'model.onnx_data',
    append(bytes: Uint8Array) {
      const at = position;
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
      position = at + Math.ceil(bytes.length / 64) * 64;
      return { offset: at, length: bytes.length };
    },
  } as unknown as ExternalDataWriter;
  const g = new GraphBuilder('range', writer);
  const x = g.input('x', ONNX_FLOAT, [1, IN]);
  const weight = g.weight('proj.weight', w, [IN, OUT]);
  const bias = g.weight('proj.bias', new Float32Array(OUT).fill(0.25), [OUT]);
  // A second weight the LoRA does not touch stays in the original file (read where it was).
  const other = g.weight('other.weight', values(OUT * OUT, 9), [OUT, OUT]);
  g.alias(g.node('MatMul', [g.node('Add', [g.node('MatMul', [x, weight]), bias]), other]), 'y');
  g.output('y', ONNX_FLOAT, [1, OUT]);
  writeFileSync(join(folder, 'model.onnx'), g.build());
  closeSync(fd);
}

describe('LoRA patching by byte range (weights beyond 4 GiB, no protobuf limit)', () => {
  test('a weight stored past byte 2^32 is merged through an overlay; the output matches x·(W + scale·ΔW)', async () => {
    const w = values(IN * OUT, 1);
    writeModel(dir, w, BEYOND_4_GIB);
    assert.ok(statSync(join(dir, 'model.onnx_data')).size > 2 ** 32, 'the external file is larger than 4 GiB');
    const init = parseOnnxModel((await readOnnxModelFiles(join(dir, 'model.onnx'))).modelBytes).initializers.find((i) => i.name === 'proj.weight')!;
    assert.equal(init.data.kind === 'external' && init.data.offset, BEYOND_4_GIB, 'the 64-bit offset is parsed exactly');

    const down = values(RANK * IN, 2);
    const up = values(OUT * RANK, 3);
    const alpha = 1;
    const weight = 0.75;
    const loraPath = join(dir, 'lora.safetensors');
    writeFileSync(
      loraPath,
      safetensorsBytes([
        { name: 'unet.proj.lora_A.weight', dtype: 'F32', shape: [RANK, IN], values: down },
        { name: 'unet.proj.lora_B.weight', dtype: 'F32', shape: [OUT, RANK], values: up },
        { name: 'unet.proj.alpha', dtype: 'F32', shape: [], values: [alpha] },
      ]),
    );
    const lora = await loadLora(loraPath);
    // The default limit sends a file over 4 GiB to the range path without being told.
    const patch = loraWeightPatch('unet', [{ lora, weight, hash: 'range-test' }])!;
    assert.equal(patch.needsWeightsInMemory, false);
    const lease = await sessions.acquire({ modelPath: join(dir, 'model.onnx'), patch });
    try {
      const x = values(IN, 4);
      const y = (await lease.session.run({ x: { data: x, dims: [1, IN] } }, ['y'])).y.data;
      const scale = (alpha / RANK) * weight;
      const h = new Float64Array(OUT);
      for (let o = 0; o < OUT; o++) {
        let sum = 0.25;
        for (let i = 0; i < IN; i++) {
          let delta = 0;
          for (let r = 0; r < RANK; r++) delta += up[o * RANK + r] * down[r * IN + i];
          sum += x[i] * (w[i * OUT + o] + scale * delta);
        }
        h[o] = sum;
      }
      const v = values(OUT * OUT, 9);
      let worst = 0;
      for (let o = 0; o < OUT; o++) {
        let sum = 0;
        for (let k = 0; k < OUT; k++) sum += h[k] * v[k * OUT + o];
        worst = Math.max(worst, Math.abs(y[o] - sum));
      }
      assert.ok(worst < 1e-4, `largest difference ${worst}`);
    } finally {
      lease.release();
    }
  });
});

