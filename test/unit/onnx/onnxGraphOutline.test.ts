// The weight-free graph outline (onnxGraphOutline.ts) against the full parser and onnxruntime: same nodes
// and initializer shapes as parseOnnxModel, the input/output shapes onnxruntime reports, only a fraction
// of a graph with inline weights read, and malformed files refused.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxProtoError, parseOnnxModel } from '../../../src/engine/onnx/onnxProto';
import { onnxGraphOutline, readOnnxGraphOutline } from '../../../src/engine/onnx/onnxGraphOutline';

const TINY = join(__dirname, '..', '..', '..', 'models', 'tiny-shapes');
const COMPONENTS = ['unet', 'vae_decoder', 'vae_encoder', 'text_encoder'];

describe('ONNX graph outline', () => {
  for (const component of COMPONENTS) {
    test(`${component}: nodes and initializers as parseOnnxModel reads them; inputs and outputs as onnxruntime reports them`, async () => {
      const path = join(TINY, component, 'model.onnx');
      const bytes = readFileSync(path);
      const outline = readOnnxGraphOutline(path);
      const full = parseOnnxModel(bytes);
      assert.deepEqual(outline.nodes.map(({ name, opType, domain, inputs, outputs }) => ({ name, opType, domain, inputs, outputs })), full.nodes);
      assert.deepEqual(outline.initializers, full.initializers.map(({ name, dataType, dims }) => ({ name, dataType, dims })));
      assert.deepEqual(onnxGraphOutline(bytes).nodes, outline.nodes);
      const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
      try {
        const types: Record<string, number> = { float32: 1, int32: 6, int64: 7, float16: 10 };
        for (const [values, metadata] of [[outline.inputs, session.inputMetadata], [outline.outputs, session.outputMetadata]] as const) {
          assert.deepEqual(values.map((v) => v.name), metadata.map((m) => m.name));
          for (const [k, m] of metadata.entries()) {
            assert.ok(m.isTensor);
            assert.equal(values[k].elemType, types[m.type], `${m.name} type`);
            // onnxruntime fills in output sizes its shape inference found; the file may leave them symbolic.
            const stated = values[k].dims?.map((d, i) => (typeof d === 'string' && typeof m.shape[i] === 'number' && metadata === session.outputMetadata ? m.shape[i] : d));
            assert.deepEqual(stated, m.shape, `${m.name} shape`);
          }
        }
      } finally {
        await session.release();
      }
    });
  }

  test('reads the structure of a graph with inline weights, not the weights', () => {
    const path = join(TINY, 'unet', 'model.onnx');
    const outline = readOnnxGraphOutline(path);
    const size = statSync(path).size;
    assert.ok(outline.bytesRead < size / 4, `read ${outline.bytesRead} of ${size} bytes`);
    const conv = outline.nodes.find((n) => n.name === '/unet/conv_in/Conv');
    assert.deepEqual(conv?.ints.get('strides'), [1, 1]);
    assert.deepEqual(conv?.ints.get('pads'), [1, 1, 1, 1]);
  });

  test('a truncated or foreign file is an OnnxProtoError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgprompt-outline-'));
    try {
      const bytes = readFileSync(join(TINY, 'vae_decoder', 'model.onnx'));
      const cut = join(dir, 'cut.onnx');
      writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
      assert.throws(() => readOnnxGraphOutline(cut), (e: unknown) => e instanceof OnnxProtoError && e.truncated);
      const html = join(dir, 'page.onnx');
      writeFileSync(html, '<!doctype html><html>Not Found</html>');
      assert.throws(() => readOnnxGraphOutline(html), OnnxProtoError);
      assert.throws(() => readOnnxGraphOutline(dir), /not a regular file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
