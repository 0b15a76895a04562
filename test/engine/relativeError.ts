// How the engine tests compare a tensor with a PyTorch reference: the largest absolute difference over
// the largest reference magnitude, after checking every value is finite (a NaN would compare as 0).
import assert from 'node:assert/strict';

/** max |actual − expected| / max |expected|. */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Number.isFinite(actual[i]), `non-finite value at ${i}`);
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}
