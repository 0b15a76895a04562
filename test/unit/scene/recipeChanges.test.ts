import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeChange, recipeChanges } from '../../../src/engine/scene/recipeChanges';

const base = {
  prompt: 'a red circle',
  seed: '42',
  steps: 20,
  model: { name: 'tiny-shapes', hash: 'sha256:aa', shortHash: 'aa' },
  loras: [{ file: 'loras/outline.safetensors', weight: 0.8, hash: 'sha256:bb' }],
  engine: { version: '0.1.0', onnxruntime: '1.30.0' },
  hash: 'h1',
  purpose: 'why',
};

test('identical recipes have no changes, whatever their hash and purpose say', () => {
  assert.deepEqual(recipeChanges(base, { ...base, hash: 'h2', purpose: 'other' }), []);
});

test('names each changed pixel-affecting field with before and after', () => {
  const after = {
    ...base,
    seed: '43',
    model: { ...base.model, hash: 'sha256:cc' },
    loras: [{ ...base.loras[0], weight: 1 }],
    engine: { version: '0.2.0', onnxruntime: '1.31.0' },
  };
  const changes = recipeChanges(base, after);
  assert.deepEqual(
    changes.map((c) => c.field),
    ['engine.version', 'loras[0].weight', 'model.hash', 'seed'],
  );
  assert.equal(describeChange(changes[3]), 'seed: 42 → 43');
  assert.equal(describeChange(changes[1]), 'loras[0].weight: 0.8 → 1');
});

test('an added LoRA shows as a change from nothing', () => {
  const after = { ...base, loras: [...base.loras, { file: 'b.safetensors', weight: 1, hash: 'sha256:dd' }] };
  const [change] = recipeChanges(base, after);
  assert.equal(change.field, 'loras[1]');
  assert.equal(change.before, undefined);
  assert.match(describeChange(change), /^loras\[1\]: \(none\) → \{/);
});

test('a precision left out of a recipe is its default, fp32', () => {
  assert.deepEqual(recipeChanges(base, { ...base, precision: 'fp32' }), []);
  const [change] = recipeChanges({ ...base, precision: 'int8' }, base);
  assert.equal(describeChange(change), 'precision: int8 → fp32');
});
