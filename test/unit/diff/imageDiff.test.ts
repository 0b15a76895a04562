// Diff maths checked against values computed by hand (shown in each test).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { diffImages, type PixelImage } from '../../../src/engine/diff/imageDiff';
import { InputError } from '../../../src/engine/errors';

function rgb(width: number, height: number, values: number[]): PixelImage {
  return { width, height, channels: 3, data: Uint8Array.from(values) };
}

describe('diffImages', () => {
  test('identical images: PSNR is infinite, nothing changed, magnitude all zero', () => {
    const a = rgb(2, 1, [10, 20, 30, 40, 50, 60]);
    const d = diffImages(a, rgb(2, 1, [10, 20, 30, 40, 50, 60]));
    assert.equal(d.psnr, Infinity);
    assert.equal(d.mse, 0);
    assert.equal(d.changedPixels, 0);
    assert.equal(d.changedFraction, 0);
    assert.equal(d.maxDifference, 0);
    assert.deepEqual([...d.magnitude], [0, 0]);
  });

  test('magnitude is the largest channel difference; changed fraction uses the threshold', () => {
    // Pixel 0: differences (5, 3, 0) → 5, under the threshold 8. Pixel 1: (0, 100, 20) → 100, changed.
    // Pixel 2: (9, 0, 0) → 9 > 8, changed. Pixel 3: identical.
    const a = rgb(2, 2, [100, 100, 100, 0, 0, 0, 50, 50, 50, 7, 7, 7]);
    const b = rgb(2, 2, [105, 97, 100, 0, 100, 20, 41, 50, 50, 7, 7, 7]);
    const d = diffImages(a, b);
    assert.deepEqual([...d.magnitude], [5, 100, 9, 0]);
    assert.equal(d.changedPixels, 2);
    assert.equal(d.changedFraction, 0.5);
    assert.equal(d.maxDifference, 100);
    assert.equal(diffImages(a, b, { threshold: 0 }).changedPixels, 3);
    assert.equal(diffImages(a, b, { threshold: 100 }).changedPixels, 0);
  });

  test('PSNR against a hand-computed value', () => {
    // Squared errors: 25 + 9 + 0 + 0 + 10000 + 400 + 81 + 0 + 0 + 0 + 0 + 0 = 10515 over 12 samples:
    // MSE = 876.25; PSNR = 10·log10(65025 / 876.25) = 18.7046… dB.
    const a = rgb(2, 2, [100, 100, 100, 0, 0, 0, 50, 50, 50, 7, 7, 7]);
    const b = rgb(2, 2, [105, 97, 100, 0, 100, 20, 41, 50, 50, 7, 7, 7]);
    const d = diffImages(a, b);
    assert.equal(d.mse, 876.25);
    assert.ok(Math.abs(d.psnr - 18.70462) < 1e-4, `psnr ${d.psnr}`);
  });

  test('black against white is 0 dB; a uniform offset of 1 is 48.13 dB', () => {
    const black = rgb(1, 1, [0, 0, 0]);
    const white = rgb(1, 1, [255, 255, 255]);
    assert.equal(diffImages(black, white).psnr, 0);
    // MSE 1 → 10·log10(65025) = 48.1308 dB, the familiar ceiling for 8-bit images off by one level.
    assert.ok(Math.abs(diffImages(black, rgb(1, 1, [1, 1, 1])).psnr - 48.1308) < 1e-4);
  });

  test('RGBA input: alpha is ignored and channels may differ between the two', () => {
    const a: PixelImage = { width: 1, height: 2, channels: 4, data: Uint8Array.from([10, 10, 10, 255, 0, 0, 0, 0]) };
    const b = rgb(1, 2, [10, 10, 10, 0, 0, 30]);
    const d = diffImages(a, b);
    assert.deepEqual([...d.magnitude], [0, 30]);
    assert.equal(d.mse, 900 / 6);
  });

  test('different sizes and malformed buffers are InputErrors naming the sizes', () => {
    assert.throws(() => diffImages(rgb(1, 1, [0, 0, 0]), rgb(2, 1, [0, 0, 0, 0, 0, 0])), (e: unknown) => e instanceof InputError && /1×1 and 2×1/.test(e.message));
    assert.throws(() => diffImages(rgb(2, 1, [0, 0, 0]), rgb(2, 1, [0, 0, 0])), (e: unknown) => e instanceof InputError && /holds 3 bytes.*needs 6/.test(e.message));
    assert.throws(() => diffImages(rgb(1, 1, [0, 0, 0]), rgb(1, 1, [0, 0, 0]), { threshold: 300 }), /threshold 300 is out of range; allowed: 0 to 255/);
  });
});
