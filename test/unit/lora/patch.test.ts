// Merging LoRAs into ONNX weights: module lookup on the torch-exported fixtures and the tiny-shapes
// model, MatMul weights stored transposed, Conv (LoCon) and Gemm weights in torch's layout, float16 and
// bfloat16 storage, external data, shape mismatches, and sessions built from the patched files. Expected
// weights are computed here from the LoRA values with a plain float64 triple loop: W + alpha/rank·w·up@down.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { InputError } from '../../../src/engine/errors';
import { fromFloat16Bits, toFloat16Bits } from '../../../src/engine/onnx/float16';
import { GraphBuilder, ONNX_FLOAT } from '../../../src/engine/onnx/graphBuilder';
import { parseOnnxModel } from '../../../src/engine/onnx/onnxProto';
import { initializerBytes, readOnnxModelFiles, type OnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import type { OnnxInitializer, OnnxModelInfo, OnnxNode } from '../../../src/engine/onnx/onnxProto';
import { OnnxSession } from '../../../src/engine/onnx/onnxSession';
import { SessionCache } from '../../../src/engine/onnx/sessionCache';
import { UNet } from '../../../src/engine/model/unet';
import { loadLora, type LoraFile } from '../../../src/engine/lora/loraFile';
import { applyLoras, loraWeightPatch, planLoras } from '../../../src/engine/lora/patch';
import { bfloat16Bits } from '../../../src/engine/onnx/float16';
import { onnxWeightTargets } from '../../../src/engine/lora/onnxTargets';
import { asFloatTensor, fixture } from '../model/onnxFixtures';
import { tempDir, values, writeSafetensors, type TensorSpec } from './loraFixtures';

const { dir, cleanup } = tempDir('imgprompt-lora-patch-');
after(cleanup);

const TINY = join(__dirname, '..', '..', '..', 'models', 'tiny-shapes');

/** An initializer's values decoded here, independently of the engine's decoders. */
function weightsOf(files: OnnxModelFiles, init: OnnxInitializer): number[] {
  const bytes = initializerBytes(files, init)!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = init.dims.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, (_, i) => {
    if (init.dataType === 1) return view.getFloat32(i * 4, true);
    if (init.dataType === 10) return fromFloat16Bits(view.getUint16(i * 2, true));
    return new Float32Array(new Uint32Array([view.getUint16(i * 2, true) << 16]).buffer)[0];
  });
}

/** scale · up [out, rank] @ down [rank, inner] as a row-major [out][inner] float64 matrix. */
function delta(up: ArrayLike<number>, down: ArrayLike<number>, out: number, rank: number, inner: number, scale: number): number[][] {
  const d: number[][] = [];
  for (let o = 0; o < out; o++) {
    d.push([]);
    for (let k = 0; k < inner; k++) {
      let s = 0;
      for (let j = 0; j < rank; j++) s += up[o * rank + j] * down[j * inner + k];
      d[o].push(scale * s);
    }
  }
  return d;
}

function initializerOfNode(info: OnnxModelInfo, nodeName: string, input = 1): OnnxInitializer {
  const node = info.nodes.find((n) => n.name === nodeName);
  assert.ok(node, `node ${nodeName} exists`);
  let name = node.inputs[input];
  const cast = info.nodes.find((n) => n.opType === 'Cast' && n.outputs[0] === name);
  if (cast) name = cast.inputs[0];
  const init = info.initializers.find((i) => i.name === name);
  assert.ok(init, `${nodeName} reads an initializer`);
  return init;
}

/** Asserts patched = base + d (transposed: stored [inner][out]) within `tol` relative. */
function assertPatched(base: number[], patched: number[], d: number[][], transposed: boolean, tol: number, what: string): void {
  const out = d.length;
  const inner = d[0].length;
  assert.equal(patched.length, out * inner, what);
  let changed = 0;
  for (let o = 0; o < out; o++) {
    for (let k = 0; k < inner; k++) {
      const i = transposed ? k * out + o : o * inner + k;
      const expected = base[i] + d[o][k];
      assert.ok(Math.abs(patched[i] - expected) <= tol * (1 + Math.abs(expected)), `${what}[${o}, ${k}]: ${patched[i]} vs ${expected}`);
      if (patched[i] !== base[i]) changed++;
    }
  }
  assert.ok(changed > (out * inner) / 2, `${what}: most values changed`);
}

const spec = (name: string, shape: number[], seed: number, scale = 0.5): TensorSpec => ({ name, dtype: 'F32', shape, values: values(shape.reduce((a, b) => a * b, 1), seed, scale) });
const tensorValues = (lora: LoraFile, name: string) => lora.file.tensor(name);

describe('LoRA patching on the torch-exported UNet fixture (external data)', () => {
  const f = fixture('unet_external_data');

  async function makeLora(): Promise<LoraFile> {
    const path = writeSafetensors(dir, 'fixture-lora.safetensors', [
      spec('unet.to_k.lora_A.weight', [2, 16], 1), // Linear 16 → 8, stored transposed by MatMul
      spec('unet.to_k.lora_B.weight', [8, 2], 2),
      spec('lora_unet_conv_in.lora_down.weight', [3, 4, 3, 3], 3), // LoCon: kernel on down
      spec('lora_unet_conv_in.lora_up.weight', [8, 3, 1, 1], 4),
      { name: 'lora_unet_conv_in.alpha', dtype: 'F32', shape: [], values: [1.5] },
      spec('lora_unet_time_proj.lora_down.weight', [1, 8], 5), // Gemm, torch layout
      spec('lora_unet_time_proj.lora_up.weight', [8, 1], 6),
      spec('lora_unet_not_in_this_model.lora_down.weight', [1, 8], 7),
      spec('lora_unet_not_in_this_model.lora_up.weight', [8, 1], 8),
      spec('lora_unet_to_v.hada_w1_a', [8, 1], 9),
    ]);
    return loadLora(path);
  }

  test('plan: matched, unmatched and unsupported counts', async () => {
    const lora = await makeLora();
    const files = await readOnnxModelFiles(f.modelPath);
    const plan = planLoras(files.info, 'unet', [{ lora, weight: 1 }]);
    assert.deepEqual(plan, { matched: 3, total: 4, unmatched: ['not_in_this_model'], unsupported: ['lora_unet_to_v.hada_w1_a'] });
    assert.deepEqual(planLoras(files.info, 'text_encoder', [{ lora, weight: 1 }]), { matched: 0, total: 0, unmatched: [], unsupported: [] });
  });

  test('patched weights = base + scale · up @ down, on copies of the buffers', async () => {
    const lora = await makeLora();
    const files = await readOnnxModelFiles(f.modelPath, { readExternalData: true });
    const snapshot = Buffer.from(files.externalData[0].data!);
    const modelSnapshot = Buffer.from(files.modelBytes);
    const weight = 0.7;
    const patched = await applyLoras(files, 'unet', [{ lora, weight }]);
    assert.ok(snapshot.equals(files.externalData[0].data!), 'the input external data is unchanged');
    assert.ok(modelSnapshot.equals(files.modelBytes), 'the input model bytes are unchanged');
    assert.notEqual(patched.externalData[0].data, files.externalData[0].data);
    const info = files.info;

    const toK = initializerOfNode(info, '/to_k/MatMul');
    assert.deepEqual(toK.dims, [16, 8], 'MatMul holds the Linear weight transposed');
    assert.equal(toK.data.kind, 'external');
    const dK = delta(await tensorValues(lora, 'unet.to_k.lora_B.weight'), await tensorValues(lora, 'unet.to_k.lora_A.weight'), 8, 2, 16, weight);
    assertPatched(weightsOf(files, toK), weightsOf(patched, toK), dK, true, 1e-6, 'to_k');

    const conv = initializerOfNode(info, '/conv_in/Conv');
    const dConv = delta(await tensorValues(lora, 'lora_unet_conv_in.lora_up.weight'), await tensorValues(lora, 'lora_unet_conv_in.lora_down.weight'), 8, 3, 36, (1.5 / 3) * weight);
    assertPatched(weightsOf(files, conv), weightsOf(patched, conv), dConv, false, 1e-6, 'conv_in');

    const gemm = initializerOfNode(info, '/time_proj/Gemm');
    const dGemm = delta(await tensorValues(lora, 'lora_unet_time_proj.lora_up.weight'), await tensorValues(lora, 'lora_unet_time_proj.lora_down.weight'), 8, 1, 8, weight);
    assertPatched(weightsOf(files, gemm), weightsOf(patched, gemm), dGemm, false, 1e-6, 'time_proj');

    for (const node of ['/to_q/MatMul', '/to_v/MatMul', '/conv_out/Conv']) {
      const init = initializerOfNode(info, node);
      assert.deepEqual(weightsOf(patched, init), weightsOf(files, init), `${node} is untouched`);
    }
  });

  test('two LoRAs at once add up; weight 0 gives no patch', async () => {
    const lora = await makeLora();
    const files = await readOnnxModelFiles(f.modelPath, { readExternalData: true });
    const both = await applyLoras(files, 'unet', [{ lora, weight: 0.25 }, { lora, weight: 0.5 }]);
    const once = await applyLoras(files, 'unet', [{ lora, weight: 0.75 }]);
    const toK = initializerOfNode(files.info, '/to_k/MatMul');
    const a = weightsOf(both, toK);
    const b = weightsOf(once, toK);
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-6 * (1 + Math.abs(b[i])));
    assert.equal(loraWeightPatch('unet', [{ lora, weight: 0, hash: 'h1' }]), undefined);
    assert.equal(loraWeightPatch('text_encoder', [{ lora, weight: 1, hash: 'h1' }]), undefined, 'no module for that component');
    const p = loraWeightPatch('unet', [{ lora, weight: 0, hash: 'h0' }, { lora, weight: 0.5, hash: 'h1' }]);
    assert.equal(p?.key, 'lora:unet:h1*0.5');
    assert.notEqual(loraWeightPatch('unet', [{ lora, weight: 0.6, hash: 'h1' }])!.key, p!.key);
    assert.notEqual(loraWeightPatch('unet', [{ lora, weight: 0.5, hash: 'h2' }])!.key, p!.key);
  });

  test('a LoRA for another base model is an InputError naming the file, key and both shapes', async () => {
    const path = writeSafetensors(dir, 'other-base.safetensors', [spec('unet.to_k.lora_A.weight', [2, 768], 1), spec('unet.to_k.lora_B.weight', [320, 2], 2)]);
    const lora = await loadLora(path);
    const files = await readOnnxModelFiles(f.modelPath, { readExternalData: true });
    const check = (e: unknown): boolean => {
      assert.ok(e instanceof InputError);
      assert.ok(e.message.startsWith(`${path}: `));
      assert.match(e.message, /LoRA module 'to_k' changes a weight of shape \[320, 768\].*weight 'onnx::MatMul_\d+' has shape \[16, 8\]: the LoRA was made for another base model/);
      return true;
    };
    assert.throws(() => planLoras(files.info, 'unet', [{ lora, weight: 1 }]), check);
    await assert.rejects(applyLoras(files, 'unet', [{ lora, weight: 1 }]), check);
  });

  test('end to end: a session from patched files gives different outputs; weight 0 the same bits', async () => {
    const lora = await makeLora();
    const cache = new SessionCache();
    const input = { sample: asFloatTensor(f.inputs.sample), timestep: f.inputs.timestep.data, encoderHiddenStates: asFloatTensor(f.inputs.encoder_hidden_states) };
    const run = async (weight: number) => {
      const lease = await cache.acquire({ modelPath: f.modelPath, options: { intraOpNumThreads: 1 }, patch: loraWeightPatch('unet', [{ lora, weight, hash: 'fixture' }]) });
      try {
        return await new UNet(lease.session).predict(input);
      } finally {
        lease.release();
      }
    };
    const base = await run(0);
    const patched = await run(1);
    const again = await run(0);
    assert.equal(cache.stats.misses, 2, 'weight 0 shares the unpatched session');
    let diff = 0;
    for (let i = 0; i < base.data.length; i++) diff = Math.max(diff, Math.abs(base.data[i] - patched.data[i]));
    assert.ok(diff > 1e-3, `outputs change (max |diff| ${diff})`);
    assert.deepEqual(again.data, base.data);
    let ref = 0;
    for (let i = 0; i < base.data.length; i++) ref = Math.max(ref, Math.abs(base.data[i] - f.outputs.out_sample.data[i]));
    assert.ok(ref <= f.tolerance, 'the unpatched session reproduces the reference');
    await cache.clear();
  });
});

describe('float16 and bfloat16 weights', () => {
  test('the float16 fixture: weights behind a Cast are patched and stored as float16', async () => {
    const f = fixture('unet_float16');
    const path = writeSafetensors(dir, 'half.safetensors', [
      { name: 'lora_unet_to_q.lora_down.weight', dtype: 'F16', shape: [2, 8], values: Array.from({ length: 16 }, (_, i) => (i % 5) / 8 - 0.25) },
      { name: 'lora_unet_to_q.lora_up.weight', dtype: 'F16', shape: [8, 2], values: Array.from({ length: 16 }, (_, i) => (i % 3) / 4 - 0.25) },
      { name: 'lora_unet_conv_in.lora_down.weight', dtype: 'BF16', shape: [1, 4, 3, 3], values: Array.from({ length: 36 }, (_, i) => (i % 7) / 16) },
      { name: 'lora_unet_conv_in.lora_up.weight', dtype: 'BF16', shape: [8, 1, 1, 1], values: [1, -1, 0.5, -0.5, 2, -2, 0.25, 1] },
    ]);
    const lora = await loadLora(path);
    const files = await readOnnxModelFiles(f.modelPath);
    assert.deepEqual(planLoras(files.info, 'unet', [{ lora, weight: 1 }]), { matched: 2, total: 2, unmatched: [], unsupported: [] });
    const patched = await applyLoras(files, 'unet', [{ lora, weight: 1 }]);
    const q = initializerOfNode(files.info, '/inner/to_q/MatMul');
    assert.equal(q.dataType, 10);
    const dq = delta(await lora.file.tensor('lora_unet_to_q.lora_up.weight'), await lora.file.tensor('lora_unet_to_q.lora_down.weight'), 8, 2, 8, 1);
    // One float16 rounding of the sum: within half an ulp (2^-11 relative).
    assertPatched(weightsOf(files, q), weightsOf(patched, q), dq, true, 2 ** -11, 'to_q (float16)');
    const conv = initializerOfNode(files.info, '/inner/conv_in/Conv');
    const dc = delta([1, -1, 0.5, -0.5, 2, -2, 0.25, 1], Array.from({ length: 36 }, (_, i) => (i % 7) / 16), 8, 1, 36, 1);
    assertPatched(weightsOf(files, conv), weightsOf(patched, conv), dc, false, 2 ** -11, 'conv_in (float16)');
    const session = await OnnxSession.create(patched, { intraOpNumThreads: 1 });
    await session.dispose();
  });

  test('bfloat16 rounding is to nearest even', () => {
    const bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
    assert.equal(bfloat16Bits(bits(1)), 0x3f80);
    assert.equal(bfloat16Bits(0x3f808000), 0x3f80, 'a tie rounds to the even pattern');
    assert.equal(bfloat16Bits(0x3f818000), 0x3f82, 'a tie rounds to the even pattern (up)');
    assert.equal(bfloat16Bits(0x3f808001), 0x3f81, 'above the tie rounds up');
    assert.equal(bfloat16Bits(0x7f7fffff), 0x7f80, 'overflow to infinity');
    assert.equal(bfloat16Bits(0x7fc00001) & 0x7fc0, 0x7fc0, 'NaN stays NaN');
  });

  test('a synthetic graph: bfloat16 MatMul weight, square Gemm in torch layout, hidden scope levels', async () => {
    // Scopes as torch writes them when blocks call their children directly: `/net/attn/to_q_1/MatMul` is
    // blocks.1.attn.to_q, which only the named norm weights of each block reveal.
    const node = (name: string, opType: string, inputs: string[], outputs = [`${name}_out`]): OnnxNode => ({ name, opType, domain: '', inputs, outputs });
    const initializers: OnnxInitializer[] = [];
    const chunks: Buffer[] = [];
    let offset = 0;
    const add = (name: string, dataType: number, dims: number[], vals: number[]): void => {
      const size = dataType === 1 ? 4 : 2;
      const b = Buffer.alloc(vals.length * size);
      vals.forEach((v, i) => (dataType === 1 ? b.writeFloatLE(v, i * 4) : b.writeUInt16LE(bfloat16Bits(new Uint32Array(new Float32Array([v]).buffer)[0]), i * 2)));
      initializers.push({ name, dataType, dims, data: { kind: 'raw', offset, length: b.length } });
      chunks.push(b);
      offset += b.length;
    };
    add('net.blocks.0.attn.norm.weight', 1, [4], [1, 1, 1, 1]);
    add('q0', 16, [4, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    add('net.blocks.1.attn.norm.weight', 1, [4], [1, 1, 1, 1]);
    add('q1', 16, [4, 3], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
    add('net.head.weight', 1, [3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
    const info: OnnxModelInfo = {
      irVersion: 8, opsets: [{ domain: '', version: 17 }], producer: 'test', inputs: ['x'], outputs: ['y'],
      nodes: [
        node('/net/attn/norm/Mul', 'Mul', ['x', 'net.blocks.0.attn.norm.weight']),
        node('/net/attn/to_q/MatMul', 'MatMul', ['/net/attn/norm/Mul_out', 'q0']),
        node('/net/attn_1/norm/Mul', 'Mul', ['x', 'net.blocks.1.attn.norm.weight']),
        node('/net/attn_1/to_q_1/MatMul', 'MatMul', ['/net/attn_1/norm/Mul_out', 'q1']),
        node('/net/head/Gemm', 'Gemm', ['z', 'net.head.weight']),
      ],
      initializers,
    };
    const modelBytes = Buffer.concat(chunks);
    const files: OnnxModelFiles = { modelPath: join(dir, 'synthetic.onnx'), modelBytes, modelIdentity: { path: '', size: 0, mtimeMs: 0 }, info, externalData: [] };
    assert.deepEqual(onnxWeightTargets(info).targets.map((t) => t.modulePath), ['net.blocks.0.attn.to_q', 'net.blocks.1.attn.to_q', 'net.head']);
    const path = writeSafetensors(dir, 'synthetic.safetensors', [
      { name: 'lora_unet_blocks_1_attn_to_q.lora_down.weight', dtype: 'F32', shape: [1, 4], values: [1, 0, -1, 0.5] },
      { name: 'lora_unet_blocks_1_attn_to_q.lora_up.weight', dtype: 'F32', shape: [3, 1], values: [0.25, -0.5, 1] },
      { name: 'lora_unet_head.lora_down.weight', dtype: 'F32', shape: [1, 3], values: [0, 1, 0] },
      { name: 'lora_unet_head.lora_up.weight', dtype: 'F32', shape: [3, 1], values: [1, 0, 0] },
    ]);
    const lora = await loadLora(path);
    const patched = await applyLoras(files, 'unet', [{ lora, weight: 1 }]);
    const [q0, q1, head] = [initializers[1], initializers[3], initializers[4]];
    assert.deepEqual(weightsOf(patched, q0), weightsOf(files, q0), 'blocks.0 is untouched');
    // q1 stored [in 4, out 3]: + up[o]·down[k] at [k][o]; bfloat16 holds these sums exactly.
    const dq = delta([0.25, -0.5, 1], [1, 0, -1, 0.5], 3, 1, 4, 1);
    assertPatched(weightsOf(files, q1), weightsOf(patched, q1), dq, true, 0, 'q1 (bfloat16)');
    // A named square Gemm weight is torch's [out, in]: only [0][1] changes.
    assert.deepEqual(weightsOf(patched, head), [1, 1, 0, 0, 1, 0, 0, 0, 1]);
  });
});

describe('the tiny-shapes model', () => {
  const unetPath = join(TINY, 'unet', 'model.onnx');
  // Attention projections of every transformer block: [module, out, in] from unet/config.json
  // (block_out_channels 32/64/128, cross_attention_dim 128, no attention in down_blocks.0 / up_blocks.2).
  const blocks: [string, number][] = [
    ['down_blocks.1.attentions.0', 64], ['down_blocks.2.attentions.0', 128], ['mid_block.attentions.0', 128],
    ['up_blocks.0.attentions.0', 128], ['up_blocks.0.attentions.1', 128], ['up_blocks.1.attentions.0', 64], ['up_blocks.1.attentions.1', 64],
  ];
  const projections = blocks.flatMap(([b, ch]) =>
    ['attn1', 'attn2'].flatMap((a) => ['to_q', 'to_k', 'to_v', 'to_out.0'].map((p): [string, number, number] => [`${b}.transformer_blocks.0.${a}.${p}`, ch, a === 'attn2' && (p === 'to_k' || p === 'to_v') ? 128 : ch])),
  );

  async function attentionLora(): Promise<LoraFile> {
    const tensors = projections.flatMap(([m, out, inn], i) => {
      const key = `lora_unet_${m.replaceAll('.', '_')}`;
      return [spec(`${key}.lora_down.weight`, [4, inn], 100 + i, 0.1), spec(`${key}.lora_up.weight`, [out, 4], 200 + i, 0.1), { name: `${key}.alpha`, dtype: 'F32' as const, shape: [], values: [2] }];
    });
    return loadLora(writeSafetensors(dir, 'tiny-attention.safetensors', tensors));
  }

  test('a kohya LoRA on every attention projection of the UNet matches all of them', async () => {
    const lora = await attentionLora();
    assert.equal(lora.modules.length, 56);
    const files = await readOnnxModelFiles(unetPath);
    assert.deepEqual(planLoras(files.info, 'unet', [{ lora, weight: 1 }]), { matched: 56, total: 56, unmatched: [], unsupported: [] });
    const before = Buffer.from(files.modelBytes);
    const patched = await applyLoras(files, 'unet', [{ lora, weight: 0.8 }]);
    assert.ok(before.equals(files.modelBytes), 'inline weights are patched on a copy of model.onnx');
    // Scope instances in execution order: down_blocks.1 runs the first to_q, mid_block the third (`to_q_2`);
    // up_blocks.0.attentions.1 is the first block at index 1 (`attentions.1/.../to_q`).
    const cases: [string, string][] = [
      ['down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q', '/unet/attentions.0/transformer_blocks.0/attn1/to_q/MatMul'],
      ['mid_block.attentions.0.transformer_blocks.0.attn1.to_q', '/unet/attentions.0/transformer_blocks.0/attn1/to_q_2/MatMul'],
      ['up_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k', '/unet/attentions.1/transformer_blocks.0/attn2/to_k/MatMul'],
    ];
    for (const [module, nodeName] of cases) {
      const [, out, inn] = projections.find(([m]) => m === module)!;
      const i = projections.findIndex(([m]) => m === module);
      const init = initializerOfNode(files.info, nodeName);
      const d = delta(values(out * 4, 200 + i, 0.1), values(4 * inn, 100 + i, 0.1), out, 4, inn, (2 / 4) * 0.8);
      assertPatched(weightsOf(files, init), weightsOf(patched, init), d, true, 1e-6, module);
    }
  });

  test('LoCon on an up-block resnet conv (named weight) and an end-to-end UNet run', async () => {
    const files = await readOnnxModelFiles(unetPath);
    const convName = 'unet.up_blocks.1.resnets.0.conv1.weight';
    const conv = files.info.initializers.find((i) => i.name === convName)!;
    const [out, cin, kh, kw] = conv.dims;
    const path = writeSafetensors(dir, 'tiny-locon.safetensors', [
      spec('lora_unet_up_blocks_1_resnets_0_conv1.lora_down.weight', [4, cin, kh, kw], 7, 0.1),
      spec('lora_unet_up_blocks_1_resnets_0_conv1.lora_up.weight', [out, 4, 1, 1], 8, 0.1),
      spec('lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight', [4, 128], 9, 0.1),
      spec('lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight', [128, 4], 10, 0.1),
    ]);
    const lora = await loadLora(path);
    assert.deepEqual(planLoras(files.info, 'unet', [{ lora, weight: 1 }]), { matched: 2, total: 2, unmatched: [], unsupported: [] });
    const patched = await applyLoras(files, 'unet', [{ lora, weight: 1 }]);
    const d = delta(values(out * 4, 8, 0.1), values(4 * cin * kh * kw, 7, 0.1), out, 4, cin * kh * kw, 1);
    assertPatched(weightsOf(files, conv), weightsOf(patched, conv), d, false, 1e-6, convName);
    const input = {
      sample: { data: Float32Array.from({ length: 4 * 16 * 16 }, (_, i) => Math.sin(i)), dims: [1, 4, 16, 16] },
      timestep: 500,
      encoderHiddenStates: { data: Float32Array.from({ length: 8 * 128 }, (_, i) => Math.cos(i)), dims: [1, 8, 128] },
    };
    const outputs = [];
    for (const f of [files, patched]) {
      const session = await OnnxSession.create(f, { intraOpNumThreads: 1 });
      outputs.push(await new UNet(session).predict(input));
      await session.dispose();
    }
    let diff = 0;
    for (let i = 0; i < outputs[0].data.length; i++) diff = Math.max(diff, Math.abs(outputs[0].data[i] - outputs[1].data[i]));
    assert.ok(diff > 1e-4 && Number.isFinite(diff), `the patched UNet's output differs (max |diff| ${diff})`);
  });

  test('text encoder: kohya lora_te_ keys find the CLIP projections', async () => {
    const path = writeSafetensors(dir, 'tiny-te.safetensors', [
      spec('lora_te_text_model_encoder_layers_1_self_attn_q_proj.lora_down.weight', [2, 128], 1, 0.1),
      spec('lora_te_text_model_encoder_layers_1_self_attn_q_proj.lora_up.weight', [128, 2], 2, 0.1),
      spec('text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_A.weight', [2, 128], 3, 0.1),
      spec('text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_B.weight', [512, 2], 4, 0.1),
    ]);
    const lora = await loadLora(path);
    const files = await readOnnxModelFiles(join(TINY, 'text_encoder', 'model.onnx'));
    assert.deepEqual(planLoras(files.info, 'text_encoder', [{ lora, weight: 1 }]), { matched: 2, total: 2, unmatched: [], unsupported: [] });
    const patched = await applyLoras(files, 'text_encoder', [{ lora, weight: 1 }]);
    const q = initializerOfNode(files.info, '/te/layers.1/self_attn/q_proj/MatMul');
    const d = delta(values(256, 2, 0.1), values(256, 1, 0.1), 128, 2, 128, 1);
    assertPatched(weightsOf(files, q), weightsOf(patched, q), d, true, 1e-6, 'layers.1 q_proj');
    const fc1 = initializerOfNode(files.info, '/te/layers.0/mlp/fc1/MatMul');
    assertPatched(weightsOf(files, fc1), weightsOf(patched, fc1), delta(values(1024, 4, 0.1), values(256, 3, 0.1), 512, 2, 128, 1), true, 1e-6, 'layers.0 fc1');
  });
});

describe('converted checkpoints: linear weights kept [out, in] behind Cast + Transpose', () => {
  // x [1, D] → MatMul by blocks.0.attn.to_q.weight (square: its shape cannot tell the layout) → y. `layout`
  // 'out_in': float16 [out, in] → Cast → Transpose, as the converter keeps a checkpoint's file range;
  // 'in_out': float16 [in, out] → Cast, as it stores a transposed copy.
  const D = 4;
  const W = Array.from({ length: D * D }, (_v, i) => ((i * 7) % 11) / 8 - 0.5); // torch's [out, in]
  function model(layout: 'out_in' | 'in_out'): OnnxModelFiles {
    const g = new GraphBuilder('linear');
    const x = g.input('x', ONNX_FLOAT, [1, D]);
    const torch = Uint16Array.from(W, (v) => toFloat16Bits(v));
    let w: string;
    if (layout === 'out_in') w = g.node('Transpose', [g.weightFloat16('blocks.0.attn.to_q.weight', torch, [D, D])], { perm: [1, 0] });
    else {
      const t = new Uint16Array(D * D);
      for (let o = 0; o < D; o++) for (let i = 0; i < D; i++) t[i * D + o] = torch[o * D + i];
      w = g.weightFloat16('blocks.0.attn.to_q.weight', t, [D, D]);
    }
    g.alias(g.node('MatMul', [x, w]), 'y');
    g.output('y', ONNX_FLOAT, [1, D]);
    const bytes = g.build();
    return { modelPath: join(dir, `linear-${layout}.onnx`), modelBytes: bytes, modelIdentity: { path: '', size: bytes.length, mtimeMs: 0 }, info: parseOnnxModel(bytes), externalData: [] };
  }

  test('the target is found through the Transpose, patched in [out, in], and computes what the [in, out] copy computes', async () => {
    const path = writeSafetensors(dir, 'square.safetensors', [
      { name: 'lora_unet_blocks_0_attn_to_q.lora_down.weight', dtype: 'F32', shape: [1, D], values: [1, 0, -1, 0.5] },
      { name: 'lora_unet_blocks_0_attn_to_q.lora_up.weight', dtype: 'F32', shape: [D, 1], values: [0.25, -0.5, 1, 0] },
    ]);
    const lora = await loadLora(path);
    const outIn = model('out_in');
    const target = onnxWeightTargets(outIn.info).find('blocks_0_attn_to_q');
    assert.equal(target?.transposed, true);
    assert.equal(target?.initializer.name, 'blocks.0.attn.to_q.weight');
    assert.equal(onnxWeightTargets(model('in_out').info).find('blocks_0_attn_to_q')?.transposed, false);
    const d = delta([0.25, -0.5, 1, 0], [1, 0, -1, 0.5], D, 1, D, 1);
    const patched = await applyLoras(outIn, 'unet', [{ lora, weight: 1 }]);
    const init = outIn.info.initializers.find((i) => i.name === 'blocks.0.attn.to_q.weight')!;
    assertPatched(weightsOf(outIn, init), weightsOf(patched, init), d, false, 2 ** -10, 'out_in');
    const inOut = model('in_out');
    const patchedCopy = await applyLoras(inOut, 'unet', [{ lora, weight: 1 }]);
    const feeds = { x: { data: Float32Array.of(0.3, -1.2, 0.7, 2), dims: [1, D] } };
    const outputs = [];
    for (const files of [patched, patchedCopy, outIn]) {
      const session = await OnnxSession.create(files, { intraOpNumThreads: 1 });
      outputs.push((await session.run(feeds)).y.data);
      await session.dispose();
    }
    assert.deepEqual(outputs[0], outputs[1], 'both layouts patched alike');
    assert.notDeepEqual(outputs[0], outputs[2], 'the LoRA changes the output');
  });
});
