// Precision variants: int8 weight quantization rewrites MatMuls into DynamicQuantizeMatMul whose output
// onnxruntime computes exactly as the operator is specified (activations quantized per tensor to uint8
// as DynamicQuantizeLinear does, int8 weights with per-column scales, integer products, bias added);
// fp16 / bf16 rounding matches the scalar reference conversions; the tiny-shapes UNet keeps its outputs
// within stated tolerances of float32 and renders reproducibly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fuseAttention } from '../../../src/engine/onnx/attentionFusion';
import { bfloat16Bits, fromFloat16Bits, toFloat16Bits } from '../../../src/engine/onnx/float16';
import { nodeModelFileSystem, readExternalData, readOnnxModelFiles, type OnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { parseOnnxModel } from '../../../src/engine/onnx/onnxProto';
import { OnnxSession, type HostTensor } from '../../../src/engine/onnx/onnxSession';
import { ProtoWriter } from '../../../src/engine/onnx/protobuf';
import { GraphBuilder, ONNX_FLOAT } from '../../../src/engine/onnx/graphBuilder';
import { applyPrecision, INT8_WEIGHT_MAX, inputScaleConstants, precisionPatch, quantizeColumnsInt8, roundHalfEven } from '../../../src/engine/onnx/precision';
import { roundToBfloat16, roundToFloat16 } from '../../../src/engine/onnx/float16';
import { composePatches, SessionCache } from '../../../src/engine/onnx/sessionCache';
import { mulberry32 } from '../prng';
import { fixture } from '../model/onnxFixtures';

const TINY_UNET = join(__dirname, '..', '..', '..', 'models', 'tiny-shapes', 'unet', 'model.onnx');
const SESSION = { intraOpNumThreads: 1 } as const;

// x [B, S, K] → MatMul W1 [K, N] → Add b1 → Relu → MatMul W2 [N, K] → y; MatMul Ws [K, 4] (too small to
// quantize) → z.
const B = 2;
const S = 6;
const K = 64;
const N = 96;

function values(seed: number, count: number, scale: number): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: count }, () => (next() * 2 - 1) * scale);
}

const W1 = values(1, K * N, 0.2);
const B1 = values(2, N, 0.5);
const W2 = values(3, N * K, 0.2);
const WS = values(4, K * 4, 0.2);

/** The synthetic model; with `external`, W1 and W2 are stored in that external-data file (written by the caller). */
function syntheticModel(external?: { location: string; chunks: Uint8Array[] }): Uint8Array {
  const graph = new ProtoWriter();
  const f32 = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let offset = 0;
  const node = (op: string, inputs: string[], output: string) =>
    graph.message(1, (n) => {
      for (const i of inputs) n.string(1, i);
      n.string(2, output).string(3, `${output}_node`).string(4, op);
    });
  const init = (name: string, dims: number[], data: Float32Array, outside = false) =>
    graph.message(5, (t) => {
      for (const d of dims) t.int(1, d);
      t.int(2, 1).string(8, name);
      if (!outside || !external) {
        t.bytes(9, f32(data));
        return;
      }
      const entry = (key: string, value: string) => t.message(13, (e) => e.string(1, key).string(2, value));
      entry('location', external.location);
      entry('offset', String(offset));
      entry('length', String(data.byteLength));
      t.int(14, 1);
      external.chunks.push(f32(data));
      offset += data.byteLength;
    });
  const valueInfo = (field: number, name: string, dims: (number | string)[]) =>
    graph.message(field, (v) => {
      v.string(1, name);
      v.message(2, (tp) =>
        tp.message(1, (tt) => {
          tt.int(1, 1);
          tt.message(2, (shape) => {
            for (const d of dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
          });
        }),
      );
    });
  node('MatMul', ['x', 'W1'], 'h');
  node('Add', ['h', 'b1'], 'hb');
  node('Relu', ['hb'], 'r');
  node('MatMul', ['r', 'W2'], 'y');
  node('MatMul', ['x', 'Ws'], 'z');
  graph.string(2, 'synthetic');
  init('W1', [K, N], W1, true);
  init('b1', [N], B1);
  init('W2', [N, K], W2, true);
  init('Ws', [K, 4], WS);
  valueInfo(11, 'x', ['batch', 'seq', K]);
  valueInfo(12, 'y', ['batch', 'seq', K]);
  valueInfo(12, 'z', ['batch', 'seq', 4]);
  const model = new ProtoWriter();
  model.int(1, 8);
  model.embed(7, graph);
  model.message(8, (o) => o.string(1, '').int(2, 17));
  return model.finish();
}

function filesFromBytes(bytes: Uint8Array): OnnxModelFiles {
  const modelPath = join(tmpdir(), 'synthetic-precision', 'model.onnx');
  return { modelPath, modelBytes: bytes, modelIdentity: { path: modelPath, size: bytes.length, mtimeMs: 0 }, info: parseOnnxModel(bytes), externalData: [] };
}

async function run(files: OnnxModelFiles, feeds: Record<string, HostTensor>, names?: string[]) {
  const session = await OnnxSession.create(files, SESSION);
  try {
    return await session.run(feeds, names);
  } finally {
    await session.dispose();
  }
}

/** DynamicQuantizeLinear on a float tensor: uint8, scale and zero point as the ONNX operator defines them. */
function dynamicQuantize(x: Float32Array): { q: Uint8Array; scale: number; zero: number } {
  let lo = 0;
  let hi = 0;
  for (const v of x) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const scale = Math.fround((hi - lo) / 255) || 1;
  const zero = Math.min(255, Math.max(0, roundHalfEven(-lo / scale)));
  const q = Uint8Array.from(x, (v) => Math.min(255, Math.max(0, roundHalfEven(Math.fround(v / scale)) + zero)));
  return { q, scale, zero };
}

/** The DynamicQuantizeMatMul operator evaluated here: A [M, k] float, B int8 [k, n] with per-column scales, bias [n]. */
function referenceQuantizedMatMul(a: Float32Array, m: number, k: number, w: Float32Array, n: number, bias?: Float32Array): Float32Array {
  const { q, scale, zero } = dynamicQuantize(a);
  const { values: wq, scales } = quantizeColumnsInt8(w, k, n);
  const out = new Float32Array(m * n);
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < n; c++) {
      let acc = 0;
      for (let i = 0; i < k; i++) acc += (q[r * k + i] - zero) * wq[i * n + c];
      out[r * n + c] = acc * scale * scales[c] + (bias ? bias[c] : 0);
    }
  }
  return out;
}

function matmul(a: Float32Array, m: number, k: number, w: Float32Array, n: number, bias?: Float32Array): Float32Array {
  const out = new Float32Array(m * n);
  for (let r = 0; r < m; r++) for (let c = 0; c < n; c++) {
    let acc = bias ? bias[c] : 0;
    for (let i = 0; i < k; i++) acc += a[r * k + i] * w[i * n + c];
    out[r * n + c] = acc;
  }
  return out;
}

function relMaxDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

test('quantizeColumnsInt8: per-column symmetric scales, ties to even, ±63', () => {
  // Column 0: max 15.75 → scale 0.25; 0.625 / 0.25 = 2.5 rounds to 2, 0.875 / 0.25 = 3.5 to 4. Column 1:
  // all zero → scale 1. Column 2: max 0.63 → scale 0.01, 0.5 → 50.
  const w = Float32Array.from([0.625, 0, 0.63, -15.75, 0, 0.5, 0.875, 0, -0.63]);
  const { values: q, scales } = quantizeColumnsInt8(w, 3, 3);
  assert.equal(INT8_WEIGHT_MAX, 63);
  assert.equal(scales[0], 0.25);
  assert.equal(scales[1], 1);
  assert.ok(Math.abs(scales[2] - 0.01) < 1e-9, String(scales[2]));
  assert.deepEqual([...q], [2, 0, 63, -63, 0, 50, 4, 0, -63]);
  assert.deepEqual([roundHalfEven(0.5), roundHalfEven(1.5), roundHalfEven(2.5), roundHalfEven(-0.5), roundHalfEven(-1.5), roundHalfEven(-2.6)], [0, 2, 2, -0, -2, -3]);
  assert.throws(() => quantizeColumnsInt8(w, 2, 2), RangeError);
});

test('int8: MatMuls with weight matrices become DynamicQuantizeMatMul, and onnxruntime computes the operator as specified', async () => {
  const files = filesFromBytes(syntheticModel());
  const { files: q, report } = await applyPrecision(files, 'int8');
  assert.equal(report.tensors, 2, 'W1 and W2; Ws has fewer elements than the threshold');
  assert.equal(report.biasesFolded, 1);
  assert.equal(report.parameters, 2 * K * N);
  const ops = q.info.nodes.map((n) => `${n.domain}:${n.opType}`);
  assert.deepEqual(ops, ['com.microsoft:DynamicQuantizeMatMul', ':Relu', 'com.microsoft:DynamicQuantizeMatMul', ':MatMul']);
  const names = q.info.initializers.map((i) => i.name);
  assert.ok(!names.includes('W1') && !names.includes('W2'), 'replaced float weights are dropped');
  assert.ok(names.includes('Ws') && names.includes('b1'));
  const w1 = q.info.initializers.find((i) => i.name === 'W1_int8');
  assert.equal(w1?.dataType, 3);
  assert.equal(w1.data.kind, 'raw');
  if (w1.data.kind === 'raw') {
    const stored = new Int8Array(q.modelBytes.slice(w1.data.offset, w1.data.offset + w1.data.length).buffer);
    assert.deepEqual(stored, quantizeColumnsInt8(W1, K, N).values);
    assert.equal(Math.max(...stored.map(Math.abs)), INT8_WEIGHT_MAX, 'every column reaches ±63, no further');
  }
  assert.equal(files.info.nodes.length, 5, 'the input files are untouched');

  const x = values(9, B * S * K, 1.5);
  const feeds = { x: { data: x, dims: [B, S, K] } };
  const out = await run(q, feeds);
  // The reference: each quantized MatMul evaluated here from the operator's definition. The input spans
  // uint8 0..255, so a kernel that saturated pairs of products in int16 (onnxruntime's AVX2 u8 × s8 GEMM
  // with weights beyond ±64) would miss this by about 15 %.
  const h = referenceQuantizedMatMul(x, B * S, K, W1, N, B1).map((v) => Math.max(0, v));
  const y = referenceQuantizedMatMul(h, B * S, N, W2, K);
  const yDiff = relMaxDiff(out.y.data, y);
  assert.ok(yDiff < 1e-5, `DynamicQuantizeMatMul output differs from the operator's definition by ${yDiff} (relative)`);
  // And close to, but not equal to, float32.
  const exact = matmul(matmul(x, B * S, K, W1, N, B1).map((v) => Math.max(0, v)), B * S, N, W2, K);
  const quantError = relMaxDiff(out.y.data, exact);
  assert.ok(quantError > 1e-5 && quantError < 0.03, `int8 error ${quantError} relative to float32`);
  assert.ok(relMaxDiff(out.z.data, matmul(x, B * S, K, WS, 4)) < 1e-6, 'the small MatMul stays float32');
});

test('int8 of a model with external weights reads only the matrices it quantizes, and runs the same as from memory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-precision-'));
  try {
    const external = { location: 'weights.bin', chunks: [] as Uint8Array[] };
    writeFileSync(join(dir, 'model.onnx'), syntheticModel(external));
    writeFileSync(join(dir, 'weights.bin'), Buffer.concat(external.chunks));
    const reads: string[] = [];
    const fs = { stat: nodeModelFileSystem.stat, readFile: (p: string) => (reads.push(p), nodeModelFileSystem.readFile(p)) };
    const cache = new SessionCache({ fs });
    const feeds = { x: { data: values(11, B * S * K, 1.5), dims: [B, S, K] } };
    const lease = await cache.acquire({ modelPath: join(dir, 'model.onnx'), options: SESSION, patch: precisionPatch('int8') });
    const fromDisk = await lease.session.run(feeds);
    lease.release();
    await cache.clear();
    assert.deepEqual(reads.map((p) => basename(p)), ['model.onnx'], 'weights.bin is not read whole into memory');
    const inMemory = await readExternalData(await readOnnxModelFiles(join(dir, 'model.onnx')));
    const quantized = (await applyPrecision(inMemory, 'int8')).files;
    assert.equal(quantized.info.nodes.filter((n) => n.opType === 'DynamicQuantizeMatMul').length, 2);
    const expected = await run(quantized, feeds);
    assert.deepEqual(fromDisk.y.data, expected.y.data);
    assert.deepEqual(fromDisk.z.data, expected.z.data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('int8 of a large model puts its int8 weights in an overlay file: the graph stays small, the weights where they were, the output the same', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-precision-'));
  try {
    const external = { location: 'weights.bin', chunks: [] as Uint8Array[] };
    writeFileSync(join(dir, 'model.onnx'), syntheticModel(external));
    writeFileSync(join(dir, 'weights.bin'), Buffer.concat(external.chunks));
    const files = await readOnnxModelFiles(join(dir, 'model.onnx'));
    const feeds = { x: { data: values(11, B * S * K, 1.5), dims: [B, S, K] } };
    const inline = await applyPrecision(files, 'int8');
    // The threshold lowered to this model's size: the overlay path SDXL's UNet takes (≥ 4 GiB).
    const overlaid = await applyPrecision(files, 'int8', { int8OverlayMinExternalBytes: 1 });
    assert.deepEqual(overlaid.report, inline.report);
    const int8 = overlaid.files.info.initializers.filter((i) => i.name.endsWith('_int8'));
    assert.equal(int8.length, 2);
    for (const init of int8) assert.equal(init.data.kind, 'external', `${init.name} is in the overlay, not inline`);
    assert.ok(overlaid.files.modelBytes.length < inline.files.modelBytes.length, 'the int8 bytes left the graph');
    assert.equal(overlaid.files.externalData.length, 2, 'the original weights file and the overlay');
    assert.ok(overlaid.files.externalData.every((f) => f.data === undefined));
    const expected = await run(inline.files, feeds);
    const actual = await run(overlaid.files, feeds);
    assert.deepEqual(actual.y.data, expected.y.data);
    assert.deepEqual(actual.z.data, expected.z.data);
    // Weights held in memory (a patch before it changed them there) keep the inline path.
    const inMemory = await applyPrecision(await readExternalData(files), 'int8', { int8OverlayMinExternalBytes: 1 });
    assert.ok(inMemory.files.info.initializers.filter((i) => i.name.endsWith('_int8')).every((i) => i.data.kind !== 'external'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an export stored in float16: int8 leaves it as it is (its MatMuls are float16); rounding touches only its float32 tensors', async () => {
  const files = await readOnnxModelFiles(fixture('unet_float16').modelPath, { readExternalData: true });
  const int8 = await applyPrecision(files, 'int8');
  assert.equal(int8.report.tensors, 0);
  assert.equal(int8.files, files);
  const float32 = files.info.initializers.filter((i) => i.dataType === 1 && i.data.kind !== 'typed').length;
  assert.ok(files.info.initializers.some((i) => i.dataType === 10), 'the fixture stores float16 weights');
  // Every float32 tensor but the constants that scale a graph input (the timestep embedding's frequencies).
  const kept = inputScaleConstants(files.info);
  assert.ok([...kept].every((name) => files.info.initializers.find((i) => i.name === name)?.dataType === 1));
  assert.equal((await applyPrecision(files, 'fp16')).report.tensors, float32 - kept.size);
});

test('fp16 / bf16 rounding matches the scalar conversions on edge cases and random values', () => {
  const patterns: number[] = [0, 0x80000000, 0x3f800000, 0x7f800000, 0xff800000, 0x7fc00000, 0x477fe000, 0x477ff000, 0x477fefff, 0x38800000, 0x387fffff, 0x33800000, 0x33000000, 0x00000001, 0x3f801000, 0x3f803000];
  const next = mulberry32(7);
  for (let i = 0; i < 20000; i++) patterns.push(Math.floor(next() * 2 ** 32) >>> 0);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const half = Uint32Array.from(patterns);
  roundToFloat16(half);
  const brain = Uint32Array.from(patterns);
  roundToBfloat16(brain);
  patterns.forEach((p, i) => {
    u[0] = p;
    const value = f[0];
    f[0] = fromFloat16Bits(toFloat16Bits(value));
    const expected = u[0];
    if (Number.isNaN(value)) {
      u[0] = half[i];
      assert.ok(Number.isNaN(f[0]));
    } else assert.equal(half[i], expected, `fp16 of 0x${p.toString(16)}`);
    assert.equal(brain[i], (bfloat16Bits(p) << 16) >>> 0, `bf16 of 0x${p.toString(16)}`);
  });
});

test('fp16 / bf16 variants change only float weights, each to a representable value; fp32 returns the files as they are', async () => {
  const files = filesFromBytes(syntheticModel());
  assert.equal((await applyPrecision(files, 'fp32')).files, files);
  const before = new Uint8Array(files.modelBytes);
  for (const precision of ['fp16', 'bf16'] as const) {
    const { files: out, report } = await applyPrecision(files, precision);
    assert.equal(report.tensors, 4);
    assert.ok(report.parameters > 0.9 * (K * N * 2 + N + K * 4), `${precision}: ${report.parameters} values changed`);
    assert.deepEqual(out.info.nodes, files.info.nodes);
    for (const init of out.info.initializers) {
      const d = init.data;
      assert.equal(d.kind, 'raw');
      if (d.kind !== 'raw') continue;
      const words = new Uint32Array(out.modelBytes.slice(d.offset, d.offset + d.length).buffer);
      const again = Uint32Array.from(words);
      (precision === 'fp16' ? roundToFloat16 : roundToBfloat16)(again);
      assert.deepEqual(again, words, `${precision}: '${init.name}' is already at that precision`);
    }
  }
  assert.deepEqual(files.modelBytes, before, 'the input bytes are untouched');
});

test('precision patches: keys name the variant, are cacheable, compose after another patch', async () => {
  assert.equal(precisionPatch('fp32'), undefined);
  const int8 = precisionPatch('int8')!;
  assert.match(int8.key, /^precision:int8:v\d+$/);
  assert.equal(int8.cacheable, true);
  assert.equal(int8.needsWeightsInMemory, false, 'int8 reads only what it quantizes');
  assert.equal(precisionPatch('fp16')!.needsWeightsInMemory, true);
  const lora = { key: 'lora:x', apply: (f: OnnxModelFiles) => f };
  const both = composePatches(lora, int8)!;
  assert.equal(both.key, `lora:x|${int8.key}`);
  assert.equal(both.cacheable, false, 'a LoRA set keeps the combination out of the optimized-graph cache');
  assert.equal(both.needsWeightsInMemory, true, 'the LoRA merge needs the weights in memory');
  const files = filesFromBytes(syntheticModel());
  const out = await both.apply(files);
  assert.ok(out.info.nodes.some((n) => n.opType === 'DynamicQuantizeMatMul'));
});

test('tiny-shapes UNet: every variant stays close to float32, int8 runs reproducibly', { skip: !existsSync(TINY_UNET) && 'models/tiny-shapes is absent' }, async (t) => {
  const files = await readOnnxModelFiles(TINY_UNET);
  const session = await OnnxSession.create(files, SESSION);
  const feeds: Record<string, HostTensor> = {};
  for (const input of session.inputs) {
    if (/residual/.test(input.name)) {
      feeds[input.name] = { data: new Float32Array(Number(input.shape[1])), dims: [1, Number(input.shape[1]), 1, 1] };
      continue;
    }
    const dims = input.shape.map((d, i) => (typeof d === 'number' ? d : i === 0 ? 2 : input.shape.length === 4 ? (i === 1 ? 4 : 16) : 77));
    const n = dims.reduce((a, b) => a * b, 1);
    feeds[input.name] = { data: Float32Array.from({ length: n }, (_, i) => (input.name === 'timestep' ? 500 : Math.sin(0.37 * i) * 1.2)), dims };
  }
  const reference = (await session.run(feeds)).out_sample ?? Object.values(await session.run(feeds))[0];
  await session.dispose();
  // Tolerances (relative to the largest |output|): measured 1.7 % (int8; 1.0 % with ±127 weights computed
  // exactly), 0.05 % (fp16), 0.5 % (bf16).
  const limits = { int8: 0.03, fp16: 0.002, bf16: 0.01 } as const;
  const fusedAttention = fuseAttention(files).fused;
  assert.ok(fusedAttention > 0);
  for (const precision of ['int8', 'fp16', 'bf16'] as const) {
    const variant = (await applyPrecision(files, precision)).files;
    assert.equal(fuseAttention(variant).fused, fusedAttention, `${precision}: attention still fuses (Q, K, V from quantized projections)`);
    const first = Object.values(await run(variant, feeds))[0];
    const diff = relMaxDiff(first.data, reference.data);
    t.diagnostic(`${precision}: relative difference from float32 ${diff.toExponential(2)}`);
    assert.ok(diff > 0 && diff < limits[precision], `${precision}: relative difference ${diff}`);
    if (precision === 'int8') {
      const second = Object.values(await run((await applyPrecision(files, precision)).files, feeds))[0];
      assert.deepEqual(second.data, first.data, 'int8 is deterministic across sessions');
    }
  }
});

/**
 * x [B, S, K] → MatMul by W1 → Add b1 → y, with W1 stored as `layout`: float32 [K, N]; float16 [K, N]
 * behind a Cast; or float16 [N, K] (torch's layout) behind Cast and Transpose, as our checkpoint
 * converter writes linear weights.
 */
function linearModel(layout: 'float32' | 'cast' | 'transposed'): Uint8Array {
  const g = new GraphBuilder('linear');
  const x = g.input('x', ONNX_FLOAT, [B, S, K]);
  const halves = Uint16Array.from(W1, (v) => toFloat16Bits(v)); // [K, N]
  const widened = Float32Array.from(halves, (h) => fromFloat16Bits(h));
  let w: string;
  if (layout === 'float32') w = g.weight('W1', widened, [K, N]);
  else if (layout === 'cast') w = g.weightFloat16('W1', halves, [K, N]);
  else {
    const torch = new Uint16Array(K * N);
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) torch[n * K + k] = halves[k * N + n];
    w = g.node('Transpose', [g.weightFloat16('W1', torch, [N, K])], { perm: [1, 0] });
  }
  g.alias(g.node('Add', [g.node('MatMul', [x, w]), g.weight('b1', B1, [N])]), 'y');
  g.output('y', ONNX_FLOAT, [B, S, N]);
  return g.build();
}

test('int8 quantizes float16 weights behind a Cast, and [out, in] ones behind Cast + Transpose, as it quantizes their float32 values', async () => {
  const feeds = { x: { data: values(12, B * S * K, 1.5), dims: [B, S, K] } };
  const reference = await applyPrecision(filesFromBytes(linearModel('float32')), 'int8');
  assert.equal(reference.report.tensors, 1);
  const expected = await run(reference.files, feeds);
  const int8Of = (files: OnnxModelFiles) => {
    const init = files.info.initializers.find((i) => i.dataType === 3)!;
    const d = init.data;
    assert.equal(d.kind, 'raw');
    return { dims: init.dims, values: d.kind === 'raw' ? files.modelBytes.slice(d.offset, d.offset + d.length) : undefined };
  };
  for (const layout of ['cast', 'transposed'] as const) {
    const files = filesFromBytes(linearModel(layout));
    const { files: q, report } = await applyPrecision(files, 'int8');
    assert.deepEqual(report, { precision: 'int8', tensors: 1, biasesFolded: 1, parameters: K * N }, layout);
    assert.deepEqual(q.info.nodes.map((n) => n.opType), ['DynamicQuantizeMatMul', 'Identity'], `${layout}: the Cast and Transpose that fed only the MatMul are gone`);
    assert.ok(!q.info.initializers.some((i) => i.name === 'W1'), `${layout}: the float16 weight is dropped`);
    assert.deepEqual(int8Of(q), int8Of(reference.files), `${layout}: the same int8 matrix [K, N]`);
    assert.deepEqual((await run(q, feeds)).y.data, expected.y.data, `${layout}: the same output`);
  }
});

test('bf16 rounds float16 weights to bfloat16 precision, kept float16; fp16 leaves them as they are', async () => {
  const files = filesFromBytes(linearModel('transposed'));
  const w = files.info.initializers.find((i) => i.name === 'W1')!;
  const bitsOf = (f: OnnxModelFiles) => {
    const d = f.info.initializers.find((i) => i.name === 'W1')!.data;
    return d.kind === 'raw' ? new Uint16Array(f.modelBytes.slice(d.offset, d.offset + d.length).buffer) : new Uint16Array();
  };
  const before = bitsOf(files);
  assert.equal(before.length, K * N);
  const fp16 = await applyPrecision(files, 'fp16');
  assert.deepEqual(bitsOf(fp16.files), before, 'float16 values are float16 already');
  const bf16 = await applyPrecision(files, 'bf16');
  const after = bitsOf(bf16.files);
  assert.equal(bf16.report.tensors, 2, 'W1 and b1');
  assert.ok(bf16.report.parameters > 0.8 * K * N);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < before.length; i++) {
    f[0] = fromFloat16Bits(before[i]);
    u[0] = (bfloat16Bits(u[0]) << 16) >>> 0;
    assert.equal(fromFloat16Bits(after[i]), f[0], `W1[${i}] is its bfloat16 rounding`);
  }
  assert.equal(w.dataType, 10);
  assert.deepEqual(bitsOf(files), before, 'the input is untouched');
});
