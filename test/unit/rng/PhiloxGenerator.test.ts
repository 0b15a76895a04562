// PhiloxGenerator against the output AUTOMATIC1111 publishes for its "NV" source
// (modules/rng_philox.py docstring: Generator(seed=0).randn(shape=(3, 4))).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PhiloxGenerator } from '../../../src/engine/rng';

// The docstring's numbers were evidently printed from an exact-constant Box-Muller (1/2^32 and 2pi
// in double); the module's code, which we follow, uses float32 constants and differs from them by at
// most 2.1e-7. Any error in the Philox stream itself would be off by whole units.
const PUBLISHED = [
  [-0.92466259, -0.42534415, -2.6438457, 0.14518388],
  [-0.12086647, -0.57972564, -0.62285122, -0.32838709],
  [-1.07454231, -0.36314407, -1.67105067, 2.26550497],
].flat();

test('seed 0, shape (3, 4): the published values within 3e-7', () => {
  const values = new PhiloxGenerator(0).randn([3, 4]);
  values.forEach((v, i) => assert.ok(Math.abs(v - PUBLISHED[i]) < 3e-7, `element ${i}: ${v}, published ${PUBLISHED[i]}`));
});

test('each draw advances the counter offset, element i depends only on (seed, offset, i)', () => {
  const g = new PhiloxGenerator(7);
  const first = g.randn([8]);
  const second = g.randn([8]);
  assert.notDeepEqual(first, second);
  assert.deepEqual(new PhiloxGenerator(7).randn([2, 2]), first.subarray(0, 4));
  assert.equal(g.name, 'a1111-nv-philox4x32');
  assert.equal(new PhiloxGenerator(-1).seed, (1n << 64n) - 1n);
});
