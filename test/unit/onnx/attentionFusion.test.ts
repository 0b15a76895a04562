// Attention fusion: the rewritten graphs run in onnxruntime and match the original graphs (and, for a
// synthetic graph, attention computed here in plain JavaScript); counts of fused attentions match the
// attention blocks the UNet configs declare; graphs without attention or with shared intermediates are
// left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelError } from '../../../src/engine/errors';
import { fuseAttention } from '../../../src/engine/onnx/attentionFusion';
import { readOnnxModelFiles, type OnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { CONTRIB_DOMAIN, parseOnnxModel } from '../../../src/engine/onnx/onnxProto';
import { OnnxSession, type HostTensor } from '../../../src/engine/onnx/onnxSession';
import { parseEditableModel, writeEditedModel } from '../../../src/engine/onnx/onnxWriter';
import { ProtoWriter } from '../../../src/engine/onnx/protobuf';
import type { FloatTensor } from '../../../src/engine/onnx/tensor';
import { asFloatTensor, fixture, maxAbsDiff } from '../model/onnxFixtures';
import { readRandomWeightsInfo, sd15RandomDir } from '../../scale/sd15Random';

const TINY_SHAPES_UNET = join(__dirname, '..', '..', '..', 'models', 'tiny-shapes', 'unet');
const TOY_DIR = sd15RandomDir('toy');
const tinyPresent = existsSync(join(TINY_SHAPES_UNET, 'model.onnx'));
const SESSION = { intraOpNumThreads: 1 } as const;

function maxDiff(a: FloatTensor, b: FloatTensor): number {
  assert.deepEqual(a.dims, b.dims);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i] - b.data[i]));
  return m;
}

async function runOnce(files: OnnxModelFiles, feeds: Record<string, HostTensor>): Promise<Record<string, FloatTensor>> {
  const session = await OnnxSession.create(files, SESSION);
  try {
    return await session.run(feeds);
  } finally {
    await session.dispose();
  }
}

/** Deterministic feeds for every input the session declares, symbolic dims filled from the arguments. */
async function unetFeeds(files: OnnxModelFiles, batch: number, h: number, w: number, sequence: number, channels = 4): Promise<Record<string, HostTensor>> {
  const session = await OnnxSession.create(files, SESSION);
  const feeds: Record<string, HostTensor> = {};
  try {
    session.inputs.forEach((input, k) => {
      if (/residual/.test(input.name)) {
        // ControlNet residual inputs: zeros [1, C, 1, 1], as the engine feeds them without a hint.
        feeds[input.name] = { data: new Float32Array(Number(input.shape[1])), dims: [1, Number(input.shape[1]), 1, 1] };
        return;
      }
      const dims = input.shape.map((d, i) => {
        if (typeof d === 'number') return d;
        if (i === 0) return batch;
        if (input.shape.length === 4) return i === 1 ? channels : i === 2 ? h : w;
        return sequence;
      });
      const n = dims.reduce((a, b) => a * b, 1);
      const integer = input.type.startsWith('int') || input.name === 'timestep';
      const data = Float32Array.from({ length: n }, (_, i) => (integer ? 500 + 37 * i : Math.sin(0.37 * i + k) * 1.5));
      feeds[input.name] = { data, dims };
    });
  } finally {
    await session.dispose();
  }
  return feeds;
}

/** Attention blocks a diffusers UNet2DConditionModel config declares, times two (self + cross attention). */
function attentionCount(config: Record<string, unknown>): number {
  const layers = config.layers_per_block as number;
  const perBlock = (config.transformer_layers_per_block as number | undefined) ?? 1;
  const down = (config.down_block_types as string[]).filter((t) => t.startsWith('CrossAttn')).length * layers;
  const up = (config.up_block_types as string[]).filter((t) => t.startsWith('CrossAttn')).length * (layers + 1);
  const mid = config.mid_block_type === 'UNetMidBlock2DCrossAttn' ? 1 : 0;
  return 2 * perBlock * (down + up + mid);
}

function filesFromBytes(bytes: Uint8Array): OnnxModelFiles {
  const modelPath = join(tmpdir(), 'synthetic-attention', 'model.onnx');
  return { modelPath, modelBytes: bytes, modelIdentity: { path: modelPath, size: bytes.length, mtimeMs: 0 }, info: parseOnnxModel(bytes), externalData: [] };
}

// A graph built here: x [2, 5, 8] → Q, K, V projections → 2 heads of 4 → scaled dot-product attention.
const B = 2;
const S = 5;
const H = 2;
const D = 4;
const C = H * D;

function weights(seed: number): Float32Array {
  return Float32Array.from({ length: C * C }, (_, i) => Math.sin(seed * 13.1 + i * 0.71) * 0.5);
}

/**
 * How the synthetic graph scales the scores by 1/√D: `scores` divides Q·Kᵀ; `qk` multiplies Q by 1/4
 * before the head split (a Constant node) and Kᵀ by 2 (an initializer), K transposed in two steps;
 * `sdpa` is torch's scaled_dot_product_attention export (opset 14+): √(1/√D) from Shape(Q) on both sides.
 */
type ScaleStyle = 'scores' | 'qk' | 'sdpa';

function syntheticModel(style: ScaleStyle, extraConsumer = false, shapeOutput = false): Uint8Array {
  const tensor = (w: ProtoWriter, field: number, name: string, dims: number[], dataType: number, raw: Uint8Array): void => {
    w.message(field, (t) => {
      for (const d of dims) t.int(1, d);
      t.int(2, dataType).string(8, name).bytes(9, raw);
    });
  };
  const int64s = (v: number[]): Uint8Array => new Uint8Array(BigInt64Array.from(v.map(BigInt)).buffer);
  const f32 = (v: number): Uint8Array => new Uint8Array(Float32Array.of(v).buffer);
  const graph = new ProtoWriter();
  const node = (op: string, inputs: string[], output: string, attrs: (n: ProtoWriter) => void = () => {}): void => {
    graph.message(1, (n) => {
      for (const i of inputs) n.string(1, i);
      n.string(2, output).string(3, `${output}_node`).string(4, op);
      attrs(n);
    });
  };
  const ints = (name: string, values: number[]) => (n: ProtoWriter) =>
    n.message(5, (a) => {
      a.string(1, name);
      for (const v of values) a.int(8, v);
      a.int(20, 7);
    });
  const int = (name: string, value: number) => (n: ProtoWriter) => n.message(5, (a) => a.string(1, name).int(3, value).int(20, 2));
  const constant = (output: string, dims: number[], dataType: number, raw: Uint8Array): void =>
    node('Constant', [], output, (n) => n.message(5, (a) => {
      a.string(1, 'value');
      tensor(a, 5, '', dims, dataType, raw);
      a.int(20, 4);
    }));
  const valueInfo = (field: number, name: string, dims: number[]): void => {
    graph.message(field, (v) => {
      v.string(1, name).message(2, (t) => t.message(1, (tt) => {
        tt.int(1, 1).message(2, (sh) => {
          for (const d of dims) sh.message(1, (dd) => dd.int(1, d));
        });
      }));
    });
  };
  for (const p of ['q', 'k', 'v'] as const) {
    node('MatMul', ['x', `W${p}`], p);
    let input: string = p;
    if (style === 'qk' && p === 'q') {
      constant('quarter', [], 1, f32(0.25));
      node('Mul', [p, 'quarter'], 'q_scaled');
      input = 'q_scaled';
    }
    node('Reshape', [input, 'split'], `${p}4`);
    const twoStep = p === 'k' && style !== 'scores';
    node('Transpose', [`${p}4`], `${p}t`, ints('perm', p === 'k' && !twoStep ? [0, 2, 3, 1] : [0, 2, 1, 3]));
    if (twoStep) node('Transpose', ['kt'], 'ktt', ints('perm', [0, 1, 3, 2]));
  }
  let scores = 'scores';
  if (style === 'scores') {
    node('MatMul', ['qt', 'kt'], 'scores');
    node('Div', ['scores', 'root_d'], 'scaled');
    scores = 'scaled';
  } else if (style === 'qk') {
    node('Mul', ['ktt', 'two'], 'k_scaled');
    node('MatMul', ['qt', 'k_scaled'], 'scores');
  } else {
    node('Shape', ['qt'], 'q_shape');
    constant('minus_one', [1], 7, int64s([-1]));
    constant('int64_max', [1], 7, int64s([2 ** 62]));
    node('Slice', ['q_shape', 'minus_one', 'int64_max'], 'head_size');
    node('Cast', ['head_size'], 'head_size_f', int('to', 1));
    node('Sqrt', ['head_size_f'], 'root_head_size');
    constant('one', [1], 1, f32(1));
    node('Div', ['one', 'root_head_size'], 'sdpa_scale');
    node('Sqrt', ['sdpa_scale'], 'sdpa_root_scale');
    node('Mul', ['qt', 'sdpa_root_scale'], 'q_scaled');
    node('Mul', ['ktt', 'sdpa_root_scale'], 'k_scaled');
    node('MatMul', ['q_scaled', 'k_scaled'], 'scores');
  }
  node('Softmax', [scores], 'probs', int('axis', -1));
  node('MatMul', ['probs', 'vt'], 'heads');
  node('Transpose', ['heads'], 'merged4', ints('perm', [0, 2, 1, 3]));
  node('Reshape', ['merged4', 'merge'], 'y');
  if (extraConsumer) node('Identity', [scores], 'scores_copy');
  graph.string(2, 'attention');
  for (const [p, seed] of [['q', 1], ['k', 2], ['v', 3]] as const) tensor(graph, 5, `W${p}`, [C, C], 1, new Uint8Array(weights(seed).buffer));
  tensor(graph, 5, 'split', [4], 7, int64s([B, S, H, D]));
  tensor(graph, 5, 'merge', [3], 7, int64s([B, S, C]));
  tensor(graph, 5, 'root_d', [], 1, f32(Math.sqrt(D)));
  tensor(graph, 5, 'two', [1], 1, f32(2));
  valueInfo(11, 'x', [B, S, C]);
  valueInfo(12, 'y', [B, S, C]);
  if (extraConsumer) valueInfo(12, 'scores_copy', [B, H, S, S]);
  if (shapeOutput) valueInfo(12, 'q_shape', [4]);
  valueInfo(13, 'probs', [B, H, S, S]);
  const model = new ProtoWriter();
  model.int(1, 8).string(2, 'imgprompt-test').message(7, (g) => g.raw(graph.finish()));
  model.message(8, (o) => o.string(1, '').int(2, 17));
  return model.finish();
}

/** softmax(Q Kᵀ / √D) V per head, in float64, straight from the definition. */
function referenceAttention(x: Float32Array): Float64Array {
  const proj = (seed: number): Float64Array => {
    const w = weights(seed);
    const out = new Float64Array(B * S * C);
    for (let r = 0; r < B * S; r++) for (let j = 0; j < C; j++) for (let i = 0; i < C; i++) out[r * C + j] += x[r * C + i] * w[i * C + j];
    return out;
  };
  const [q, k, v] = [proj(1), proj(2), proj(3)];
  const y = new Float64Array(B * S * C);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let s = 0; s < S; s++) {
        const logits = Array.from({ length: S }, (_, t) => {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[(b * S + s) * C + h * D + d] * k[(b * S + t) * C + h * D + d];
          return dot / Math.sqrt(D);
        });
        const m = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - m));
        const z = e.reduce((a, c) => a + c, 0);
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let t = 0; t < S; t++) acc += (e[t] / z) * v[(b * S + t) * C + h * D + d];
          y[(b * S + s) * C + h * D + d] = acc;
        }
      }
    }
  }
  return y;
}

for (const style of ['scores', 'qk', 'sdpa'] as const) {
  test(`a synthetic 2-head attention (scale style '${style}') fuses into one MultiHeadAttention with the same result`, async () => {
    const files = filesFromBytes(syntheticModel(style));
    const result = fuseAttention(files);
    assert.equal(result.fused, 1);
    assert.deepEqual(result.skipped, []);
    const info = parseOnnxModel(result.files.modelBytes);
    // Everything but the projections is gone: head split/merge, scale arithmetic, unused constants.
    assert.deepEqual(info.nodes.map((n) => n.opType), ['MatMul', 'MatMul', 'MatMul', 'MultiHeadAttention']);
    const mha = info.nodes[3];
    assert.equal(mha.domain, CONTRIB_DOMAIN);
    assert.deepEqual(mha.inputs, ['q', 'k', 'v']);
    assert.deepEqual(mha.outputs, ['y']);
    assert.ok(info.opsets.some((o) => o.domain === CONTRIB_DOMAIN && o.version === 1));
    assert.deepEqual(info.initializers.map((i) => i.name), files.info.initializers.map((i) => i.name));
    assert.deepEqual(info.outputs, ['y']);

    const x = Float32Array.from({ length: B * S * C }, (_, i) => Math.cos(i * 0.9) * 2);
    const feeds = { x: { data: x, dims: [B, S, C] } };
    const expected = referenceAttention(x);
    const original = (await runOnce(files, feeds)).y;
    const fused = (await runOnce(result.files, feeds)).y;
    assert.deepEqual(fused.dims, [B, S, C]);
    let errOriginal = 0;
    let errFused = 0;
    for (let i = 0; i < expected.length; i++) {
      errOriginal = Math.max(errOriginal, Math.abs(original.data[i] - expected[i]));
      errFused = Math.max(errFused, Math.abs(fused.data[i] - expected[i]));
    }
    assert.ok(errOriginal < 1e-5, `original graph vs reference: ${errOriginal}`);
    assert.ok(errFused < 1e-5, `fused graph vs reference: ${errFused}`);
  });
}

test('an attention whose scores have another consumer is not fused', () => {
  for (const style of ['scores', 'qk', 'sdpa'] as const) {
    const files = filesFromBytes(syntheticModel(style, true));
    const result = fuseAttention(files);
    assert.equal(result.fused, 0, style);
    assert.equal(result.files, files, style);
    assert.equal(result.skipped.length, 1, style);
    assert.match(result.skipped[0].reason, /other consumers/, style);
  }
});

test("an SDPA export whose Shape(Q) is also a graph output is not fused (the Shape node must stay)", () => {
  const files = filesFromBytes(syntheticModel('sdpa', false, true));
  const result = fuseAttention(files);
  assert.equal(result.fused, 0);
  assert.equal(result.files, files);
  assert.deepEqual(result.skipped, [{ node: 'probs_node', reason: "'qt' is also read outside the attention" }]);
});

test('a model that cannot be parsed gives a ModelError naming the file', async () => {
  const files = await readOnnxModelFiles(fixture('unet_external_data').modelPath);
  const cut = { ...files, modelBytes: files.modelBytes.subarray(0, files.modelBytes.length >> 1) };
  assert.throws(() => fuseAttention(cut), (e: unknown) => e instanceof ModelError && e.path === files.modelPath && /attention fusion/.test(e.message));
});

test('re-serializing a model with its own node list reproduces it byte for byte', async () => {
  const paths = [fixture('unet_external_data').modelPath, fixture('unet_float16').modelPath];
  if (tinyPresent) paths.push(join(TINY_SHAPES_UNET, 'model.onnx'));
  for (const path of paths) {
    const bytes = readFileSync(path);
    const model = parseEditableModel(bytes);
    assert.ok(model.nodes.length > 0, path);
    assert.ok(Buffer.from(writeEditedModel(model, { nodes: model.nodes })).equals(bytes), path);
    // Declaring a new operator set appends exactly one opset_import entry.
    const withDomain = parseOnnxModel(writeEditedModel(model, { nodes: model.nodes, addOpsets: [{ domain: CONTRIB_DOMAIN, version: 1 }] }));
    assert.deepEqual(withDomain.opsets, [...model.opsets, { domain: CONTRIB_DOMAIN, version: 1 }], path);
  }
});

test('a graph without attention is returned unchanged', async () => {
  for (const name of ['vae_decoder', 'text_encoder_int64']) {
    const files = await readOnnxModelFiles(fixture(name).modelPath);
    const result = fuseAttention(files);
    assert.equal(result.fused, 0, name);
    assert.deepEqual(result.skipped, [], name);
    assert.equal(result.files, files, name);
  }
});

test('single-head fixture UNets fuse and still match the PyTorch reference', async () => {
  for (const name of ['unet_external_data', 'unet_float16', 'unet_timestep_int64_batch', 'unet_controlnet_residuals']) {
    const ref = fixture(name);
    const files = await readOnnxModelFiles(ref.modelPath);
    const result = fuseAttention(files);
    assert.equal(result.fused, 1, name);
    const info = parseOnnxModel(result.files.modelBytes);
    assert.equal(info.nodes.filter((n) => n.opType === 'Softmax').length, 0, name);
    // Weights (inline or external) are where they were: same names, same data locations.
    assert.deepEqual(info.initializers.map((i) => [i.name, i.data.kind]), files.info.initializers.map((i) => [i.name, i.data.kind]), name);
    const feeds = Object.fromEntries(Object.entries(ref.inputs).map(([k, t]) => [k, asFloatTensor(t)]));
    const original = await runOnce(files, feeds);
    const fused = await runOnce(result.files, feeds);
    // Reference outputs the graph produces (the ControlNet fixture also records a zero-residual run).
    const compared = Object.entries(ref.outputs).filter(([output]) => output in fused);
    assert.ok(compared.length > 0, name);
    for (const [output, expected] of compared) {
      assert.ok(maxAbsDiff(fused[output], expected) <= ref.tolerance, `${name} ${output} vs torch`);
      assert.ok(maxDiff(fused[output], original[output]) <= 1e-4, `${name} ${output}: fused vs unfused ${maxDiff(fused[output], original[output])}`);
    }
  }
});

test('tiny-shapes UNet: every attention block fuses and the output is unchanged', { skip: tinyPresent ? false : 'models/tiny-shapes is not built' }, async () => {
  const config = JSON.parse(readFileSync(join(TINY_SHAPES_UNET, 'config.json'), 'utf8')) as Record<string, unknown>;
  const files = await readOnnxModelFiles(join(TINY_SHAPES_UNET, 'model.onnx'));
  const result = fuseAttention(files);
  assert.equal(result.fused, attentionCount(config));
  // The only other softmax is the text pooling's (over tokens, then a weighted sum: not attention).
  assert.equal(result.skipped.length, files.info.nodes.filter((n) => n.opType === 'Softmax').length - result.fused);
  const info = parseOnnxModel(result.files.modelBytes);
  assert.equal(info.nodes.filter((n) => n.opType === 'MultiHeadAttention').length, result.fused);
  assert.ok(info.nodes.length < files.info.nodes.length - result.fused * 8, 'the split/merge shape arithmetic is removed');
  // Initializers are copied verbatim: same names, types, shapes and stored bytes.
  assert.equal(info.initializers.length, files.info.initializers.length);
  info.initializers.forEach((init, k) => {
    const before = files.info.initializers[k];
    assert.deepEqual([init.name, init.dataType, init.dims, init.data.kind], [before.name, before.dataType, before.dims, before.data.kind]);
    if (init.data.kind === 'raw' && before.data.kind === 'raw') {
      const a = result.files.modelBytes.subarray(init.data.offset, init.data.offset + init.data.length);
      const b = files.modelBytes.subarray(before.data.offset, before.data.offset + before.data.length);
      assert.ok(Buffer.from(a).equals(Buffer.from(b)), init.name);
    }
  });
  const sample = config.sample_size as number;
  const feeds = await unetFeeds(files, 2, sample, sample, 16);
  const original = (await runOnce(files, feeds)).out_sample;
  const fused = (await runOnce(result.files, feeds)).out_sample;
  const diff = maxDiff(fused, original);
  assert.ok(diff <= 1e-4, `fused vs unfused: ${diff}`);
  assert.ok(original.data.some((v) => v !== 0));
});

const toyPresent = readRandomWeightsInfo(TOY_DIR)?.scale === 'toy';
test(
  'toy SD 1.5 UNet and VAE (diffusers attention): every attention block fuses and the output is unchanged',
  { skip: toyPresent ? false : `the toy SD 1.5 model is absent (${TOY_DIR}); generate it with sh tools/sd15_random/make_model.sh --scale toy` },
  async () => {
    const unetDir = join(TOY_DIR, 'unet');
    const config = JSON.parse(readFileSync(join(unetDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const files = await readOnnxModelFiles(join(unetDir, 'model.onnx'));
    const result = fuseAttention(files);
    assert.equal(result.fused, attentionCount(config));
    assert.deepEqual(result.skipped, []);
    const feeds = await unetFeeds(files, 2, 32, 32, 77);
    const original = (await runOnce(files, feeds)).out_sample;
    const fused = (await runOnce(result.files, feeds)).out_sample;
    const diff = maxDiff(fused, original);
    assert.ok(diff <= 1e-4, `fused vs unfused: ${diff}`);

    // The VAE's mid-block attention (one head, [B, H·W, C], scale C^-0.5 computed from Shape(x)[1]).
    for (const [component, size, channels] of [['vae_decoder', 32, 4], ['vae_encoder', 256, 3]] as const) {
      const vaeFiles = await readOnnxModelFiles(join(TOY_DIR, component, 'model.onnx'));
      const vae = fuseAttention(vaeFiles);
      assert.equal(vae.fused, 1, component);
      assert.deepEqual(vae.skipped, [], component);
      const vaeFeeds = await unetFeeds(vaeFiles, 1, size, size, 0, channels);
      const [before] = Object.values(await runOnce(vaeFiles, vaeFeeds));
      const [after] = Object.values(await runOnce(vae.files, vaeFeeds));
      const vaeDiff = maxDiff(after, before);
      assert.ok(vaeDiff <= 1e-4, `${component} fused vs unfused: ${vaeDiff}`);
    }
  },
);
