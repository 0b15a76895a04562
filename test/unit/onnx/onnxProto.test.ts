import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { initializerBytes, readOnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { OnnxProtoError, parseOnnxModel } from '../../../src/engine/onnx/onnxProto';
import { fixture } from '../model/onnxFixtures';

test('reads graph inputs, outputs, opsets and nodes', () => {
  const info = parseOnnxModel(readFileSync(fixture('unet_timestep_float32_batch').modelPath));
  assert.equal(info.irVersion, 8);
  assert.deepEqual(info.opsets, [{ domain: '', version: 17 }]);
  assert.equal(info.producer, 'pytorch');
  assert.deepEqual(info.inputs, ['sample', 'timestep', 'encoder_hidden_states']);
  assert.deepEqual(info.outputs, ['out_sample']);
  const conv = info.nodes.find((n) => n.opType === 'Conv');
  assert.ok(conv && conv.inputs.includes('conv_in.weight'), 'Conv nodes name their weight initializers');
});

test('external-data initializers tile model.onnx_data exactly', () => {
  const f = fixture('unet_external_data');
  const info = parseOnnxModel(readFileSync(f.modelPath));
  const external = info.initializers.map((i) => i.data).filter((d) => d.kind === 'external');
  assert.equal(external.length, info.initializers.length, 'every initializer is external (size_threshold=0)');
  let end = 0;
  for (const d of external) {
    assert.equal(d.location, 'model.onnx_data');
    assert.equal(d.offset, end, 'torch writes them back to back');
    end = d.offset + (d.length ?? 0);
  }
  assert.equal(end, statSync(join(f.dir, 'model.onnx_data')).size);
  const conv = info.initializers.find((i) => i.name === 'conv_in.weight')!;
  assert.deepEqual(conv.dims, [8, 4, 3, 3]);
  assert.equal(conv.dataType, 1);
});

test('inline float16 initializers are located in model.onnx', () => {
  const bytes = readFileSync(fixture('unet_float16').modelPath);
  const info = parseOnnxModel(bytes);
  const half = info.initializers.filter((i) => i.dataType === 10);
  assert.ok(half.length >= 10);
  for (const init of half) {
    assert.equal(init.data.kind, 'raw');
    if (init.data.kind === 'raw') assert.equal(init.data.length, init.dims.reduce((n, d) => n * d, 2));
  }
});

test('random bytes throw OnnxProtoError, never anything else', () => {
  let x = 99;
  for (let trial = 0; trial < 300; trial++) {
    const bytes = Uint8Array.from({ length: 1 + (trial % 200) }, () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24);
    assert.throws(() => parseOnnxModel(bytes), OnnxProtoError, `trial ${trial}`);
  }
});

test('initializerBytes finds the same weights inline and in external data', async () => {
  // Both UNets were exported from one seeded torch module, once inline and once with external data.
  const inline = await readOnnxModelFiles(fixture('unet_timestep_float32_batch').modelPath);
  const external = await readOnnxModelFiles(fixture('unet_external_data').modelPath, { readExternalData: true });
  for (const name of ['conv_in.weight', 'conv_out.bias']) {
    const a = initializerBytes(inline, inline.info.initializers.find((i) => i.name === name)!);
    const b = initializerBytes(external, external.info.initializers.find((i) => i.name === name)!);
    assert.ok(a && b && a.length > 0);
    assert.deepEqual(a, b);
  }
  const notRead = await readOnnxModelFiles(fixture('unet_external_data').modelPath);
  assert.throws(() => initializerBytes(notRead, notRead.info.initializers[0]), /were not read into memory/);
});
