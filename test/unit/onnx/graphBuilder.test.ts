// The ONNX graph builder: a model written from scratch (inline and external weights, attributes of
// every kind it writes, symbolic dims) loads in onnxruntime and computes what its nodes define.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ExternalDataWriter, GraphBuilder, ONNX_FLOAT } from '../../../src/engine/onnx/graphBuilder';
import { parseOnnxModel } from '../../../src/engine/onnx/onnxProto';

const dir = mkdtempSync(join(tmpdir(), 'imgprompt-builder-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a built model with external weights runs in onnxruntime: y = LayerNorm(x·W + b) then Softmax', async () => {
  const [K, N] = [16, 32];
  const W = Float32Array.from({ length: K * N }, (_v, i) => Math.sin(i) / 4);
  const b = Float32Array.from({ length: N }, (_v, i) => i / N);
  const external = new ExternalDataWriter(join(dir, 'model.onnx_data'), 'model.onnx_data');
  const g = new GraphBuilder('test', external);
  const x = g.input('x', ONNX_FLOAT, ['batch', K]);
  const h = g.node('Add', [g.node('MatMul', [x, g.weight('W', W, [K, N])]), g.weight('b', b, [N])]);
  const normed = g.node('LayerNormalization', [h, g.weight('gamma', new Float32Array(N).fill(1), [N]), g.weight('beta', new Float32Array(N), [N])], { axis: -1, epsilon: { float: 1e-5 } });
  const reshaped = g.node('Reshape', [normed, g.ints([-1, 4, 8])]);
  g.alias(g.node('Softmax', [reshaped], { axis: 2 }), 'y');
  g.output('y', ONNX_FLOAT, ['batch', 4, 8]);
  external.close();
  const bytes = g.build();
  writeFileSync(join(dir, 'model.onnx'), bytes);
  const info = parseOnnxModel(bytes);
  assert.equal(info.initializers.find((i) => i.name === 'W')?.data.kind, 'external');
  assert.deepEqual(info.opsets, [{ domain: '', version: 17 }]);

  const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
  const input = Float32Array.from({ length: 2 * K }, (_v, i) => Math.cos(i));
  const { y } = await session.run({ x: new ort.Tensor('float32', input, [2, K]) });
  assert.deepEqual(y.dims, [2, 4, 8]);
  // The same computation in plain JavaScript.
  for (let r = 0; r < 2; r++) {
    const row = Array.from({ length: N }, (_v, n) => b[n] + Array.from({ length: K }, (_w, k) => input[r * K + k] * W[k * N + n]).reduce((a, c) => a + c, 0));
    const mean = row.reduce((a, c) => a + c, 0) / N;
    const variance = row.reduce((a, c) => a + (c - mean) ** 2, 0) / N;
    const normedRow = row.map((v) => (v - mean) / Math.sqrt(variance + 1e-5));
    for (let group = 0; group < 4; group++) {
      const slice = normedRow.slice(group * 8, group * 8 + 8);
      const max = Math.max(...slice);
      const exps = slice.map((v) => Math.exp(v - max));
      const sum = exps.reduce((a, c) => a + c, 0);
      for (let j = 0; j < 8; j++) {
        const got = (y.data as Float32Array)[r * N + group * 8 + j];
        assert.ok(Math.abs(got - exps[j] / sum) < 1e-5, `y[${r}, ${group}, ${j}] = ${got}, expected ${exps[j] / sum}`);
      }
    }
  }
});
