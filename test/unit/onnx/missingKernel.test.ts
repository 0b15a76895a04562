// GPU-optimized exports on the CPU: one-node graphs with the fused com.microsoft operators that
// onnxruntime's transformer optimizer and Olive put into float16 Stable Diffusion exports (GroupNorm,
// NhwcConv, BiasSplitGelu) really fail session creation on onnxruntime 1.30's CPU provider, and the
// failure comes back as a ModelError naming the operator, its node, the component file, float16, and
// what export to use instead. onnxruntime's own phrasing differs by case (quoted in missingKernel.ts);
// both are covered. A float16 com.microsoft MultiHeadAttention, which the CPU does run, loads.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelError } from '../../../src/engine/errors';
import { readOnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { OnnxSession } from '../../../src/engine/onnx/onnxSession';
import { ProtoWriter } from '../../../src/engine/onnx/protobuf';

const F32 = 1;
const F16 = 10;

interface OneNode {
  op: string;
  inputs: { name: string; type: number; dims: number[] }[];
  ints?: Record<string, number>;
  floats?: Record<string, number>;
}

/** A graph of one com.microsoft node named `fused_<op>` reading the graph inputs, written with the protobuf codec. */
function oneNodeGraph({ op, inputs, ints = {}, floats = {} }: OneNode): Uint8Array {
  const g = new ProtoWriter();
  g.message(1, (n) => {
    for (const i of inputs) n.string(1, i.name);
    n.string(2, 'y').string(3, `fused_${op}`).string(4, op).string(7, 'com.microsoft');
    for (const [name, v] of Object.entries(ints)) n.message(5, (a) => a.string(1, name).int(3, v).int(20, 2));
    for (const [name, v] of Object.entries(floats)) n.message(5, (a) => a.string(1, name).float(2, v).int(20, 1));
  });
  g.string(2, 'one_node');
  const value = (field: number, name: string, type: number, dims?: number[]) =>
    g.message(field, (v) => v.string(1, name).message(2, (t) => t.message(1, (tt) => (tt.int(1, type), dims && tt.message(2, (s) => dims.forEach((d) => s.message(1, (dim) => dim.int(1, d))))))));
  for (const i of inputs) value(11, i.name, i.type, i.dims);
  value(12, 'y', inputs[0].type);
  const m = new ProtoWriter().int(1, 8).string(2, 'imgprompt-test');
  m.embed(7, g);
  m.message(8, (o) => o.string(1, '').int(2, 17));
  m.message(8, (o) => o.string(1, 'com.microsoft').int(2, 1));
  return m.finish();
}

const root = mkdtempSync(join(tmpdir(), 'imgprompt-missing-kernel-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Writes the graph as `<root>/<name>/unet/model.onnx` and creates a session from it the way components do. */
async function load(name: string, graph: OneNode): Promise<{ path: string; session?: OnnxSession; error?: unknown }> {
  const dir = join(root, name, 'unet');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'model.onnx');
  writeFileSync(path, oneNodeGraph(graph));
  try {
    return { path, session: await OnnxSession.create(await readOnnxModelFiles(path), { intraOpNumThreads: 1 }) };
  } catch (error) {
    return { path, error };
  }
}

const GROUP_NORM: OneNode = {
  op: 'GroupNorm',
  inputs: [
    { name: 'x', type: F16, dims: [1, 4, 4, 8] },
    { name: 'gamma', type: F32, dims: [8] },
    { name: 'beta', type: F32, dims: [8] },
  ],
  ints: { groups: 2, activation: 1 },
  floats: { epsilon: 1e-5 },
};

describe('an operator without a CPU kernel', () => {
  const cases: [string, OneNode, RegExp][] = [
    ['float16 GroupNorm', GROUP_NORM, /Failed to find kernel for com\.microsoft\.GroupNorm\(1\)/],
    ['float16 NhwcConv', { op: 'NhwcConv', inputs: [{ name: 'x', type: F16, dims: [1, 4, 4, 8] }, { name: 'w', type: F16, dims: [8, 3, 3, 8] }] }, /Failed to find kernel for com\.microsoft\.NhwcConv\(1\)/],
    ['float16 BiasSplitGelu', { op: 'BiasSplitGelu', inputs: [{ name: 'x', type: F16, dims: [1, 4, 16] }, { name: 'b', type: F16, dims: [16] }] }, /Failed to find kernel for com\.microsoft\.BiasSplitGelu\(1\)/],
    ['float32 BiasSplitGelu', { op: 'BiasSplitGelu', inputs: [{ name: 'x', type: F32, dims: [1, 4, 16] }, { name: 'b', type: F32, dims: [16] }] }, /Could not find an implementation for BiasSplitGelu\(1\) node with name 'fused_BiasSplitGelu'/],
  ];
  for (const [name, graph, ortText] of cases) {
    test(`${name}: a ModelError naming the operator, node, file, precision and the export to use`, async () => {
      const { path, error, session } = await load(name.replace(/\W/g, '_'), graph);
      await session?.dispose();
      assert.ok(error instanceof ModelError, `expected a ModelError, got ${String(error)}`);
      assert.equal(error.path, path);
      const float16 = graph.inputs[0].type === F16;
      assert.equal(
        error.message.split('; onnxruntime said: ')[0],
        `${path}: no CPU kernel for the operator com.microsoft.${graph.op} (opset 1) at node 'fused_${graph.op}'${float16 ? ' with float16 inputs' : ''}: ` +
          `this unet export was optimized for a GPU (fused${float16 ? ' float16' : ''} operators for DirectML or CUDA), which onnxruntime's CPU execution provider cannot run. ` +
          'Use an fp32 export made for the CPU instead: `optimum-cli export onnx --model <model> <folder>` without `--fp16` / `--dtype fp16` and without `--optimize O4` ' +
          "(or diffusers' convert_stable_diffusion_checkpoint_to_onnx.py without --fp16), not an Olive / DirectML or CUDA-optimized one",
      );
      // onnxruntime's own words stay at the end, for a bug report.
      assert.match(error.message, ortText);
    });
  }

  test('float16 com.microsoft.MultiHeadAttention has a CPU kernel: the session loads', async () => {
    const qkv = (name: string) => ({ name, type: F16, dims: [1, 4, 8] });
    const { error, session } = await load('mha', { op: 'MultiHeadAttention', inputs: [qkv('q'), qkv('k'), qkv('v')], ints: { num_heads: 2 } });
    assert.equal(error, undefined);
    assert.deepEqual(session?.inputs.map((i) => i.type), ['float16', 'float16', 'float16']);
    await session?.dispose();
  });
});
