// writeEditedModel encodes every attribute kind a new node may carry (float, int, floats, ints) so that
// the model's own decoder reads back the same values and types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEditableModel, writeEditedModel } from '../../../src/engine/onnx/onnxWriter';

test('new nodes keep float, int, floats and ints attributes (negative ints included)', () => {
  const model = parseEditableModel(readFileSync(join(__dirname, '..', '..', 'fixtures', 'onnx', 'text_encoder_int32', 'model.onnx')));
  const node = {
    name: 'probe',
    opType: 'Identity',
    domain: '',
    inputs: ['input_ids'],
    outputs: ['probe_out'],
    attributes: [
      { name: 'f', f: 0.25 },
      { name: 'i', i: -3 },
      { name: 'fs', floats: [1.5, -2] },
      { name: 'is', ints: [-1, 0, 7, 2 ** 40] },
    ],
  };
  const written = parseEditableModel(writeEditedModel(model, { nodes: [...model.nodes, node] }));
  const back = written.nodes.find((n) => n.name === 'probe')!;
  const attr = (name: string) => back.attributes.get(name)!;
  assert.deepEqual([attr('f').type, attr('f').f], [1, 0.25]);
  assert.deepEqual([attr('i').type, attr('i').i], [2, -3]);
  assert.deepEqual([attr('fs').type, attr('fs').floats], [6, [1.5, -2]]);
  assert.deepEqual([attr('is').type, attr('is').ints], [7, [-1, 0, 7, 2 ** 40]]);
  assert.equal(written.nodes.length, model.nodes.length + 1);
});
