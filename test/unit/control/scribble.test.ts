import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scribble, thinZhangSuen } from '../../../src/engine/control/scribble';
import { components8, fullSquares, greyImage, onPixels } from './helpers';

const count = (mask: Uint8Array) => mask.reduce((n, v) => n + (v ? 1 : 0), 0);

/** Distance from (px, py) to the segment (ax, ay)-(bx, by). */
function segmentDistance(px: number, py: number, [ax, ay, bx, by]: number[]): number {
  const t = Math.max(0, Math.min(1, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)));
  return Math.hypot(px - ax - t * (bx - ax), py - ay - t * (by - ay));
}

/** White strokes (segments of the given half-width) on black, or the inverse. */
function strokes(width: number, height: number, segments: number[][], halfWidth: number, blackOnWhite = false): Uint8Array {
  return greyImage(width, height, (x, y) => {
    const on = segments.some((s) => segmentDistance(x + 0.5, y + 0.5, s) <= halfWidth);
    return on !== blackOnWhite ? 255 : 0;
  });
}

test('a thick bar thins to a 1-pixel line along its middle', () => {
  const [w, h] = [80, 30];
  const mask = scribble(strokes(w, h, [[10, 15, 70, 15]], 3.6), w, h); // 7-8 px thick
  for (let x = 16; x <= 64; x++) {
    const ys = onPixels(mask, w).filter(([px]) => px === x).map(([, y]) => y);
    assert.equal(ys.length, 1, `column ${x}: ${ys}`);
    assert.ok(Math.abs(ys[0] + 0.5 - 15) <= 1, `column ${x}: line at row ${ys[0]}`);
  }
  assert.equal(fullSquares(mask, w, h), 0);
  assert.equal(components8(mask, w, h), 1);
});

test('thinning keeps one 8-connected component per stroke, inside the stroke, 1 pixel thin', () => {
  const [w, h] = [96, 80];
  const zigzag = [[8, 70, 30, 10], [30, 10, 52, 70], [52, 70, 74, 12], [74, 12, 90, 40]];
  const loop = [[20, 20, 40, 20], [40, 20, 40, 40], [40, 40, 20, 40], [20, 40, 20, 20]];
  for (const [name, segs, expected] of [['zigzag', zigzag, 1], ['square loop', loop, 1], ['zigzag + loop apart', [...zigzag.map((s) => s.map((v, i) => (i % 2 ? v * 0.5 : v))), ...loop.map((s) => s.map((v, i) => (i % 2 ? v + 38 : v + 50)))], 2]] as const) {
    for (const half of [1.6, 2.5, 4.2]) {
      const img = strokes(w, h, segs as number[][], half);
      const mask = scribble(img, w, h);
      const pixels = onPixels(mask, w);
      assert.ok(pixels.length > 40, `${name}, half-width ${half}: ${pixels.length} pixels`);
      assert.equal(components8(mask, w, h), expected, `${name}, half-width ${half}`);
      assert.equal(fullSquares(mask, w, h), 0, `${name}, half-width ${half}: 1 pixel thin`);
      for (const [x, y] of pixels) assert.ok(img[(y * w + x) * 3] === 255, `${name}: (${x}, ${y}) inside the stroke`);
    }
  }
  // The loop stays a loop: its inside is not joined to the outside.
  const loopMask = scribble(strokes(w, h, loop, 3), w, h);
  assert.ok(loopMask[30 * w + 30] === 0 && count(loopMask) > 60);
});

test('black-on-white and white-on-black drawings give the same lines', () => {
  const [w, h] = [64, 48];
  const segs = [[6, 40, 30, 6], [30, 6, 58, 42], [12, 30, 50, 30]];
  const white = scribble(strokes(w, h, segs, 2.2), w, h);
  const black = scribble(strokes(w, h, segs, 2.2, true), w, h);
  assert.ok(count(white) > 60);
  assert.deepEqual(black, white);
  // Grey levels: the threshold is 127 on the white-lines luma (pixels of luma 128 are lines, 127 are not).
  const grey = (v: number) => greyImage(9, 9, (x, y) => (y === 4 && x > 0 && x < 8 ? v : 0));
  assert.equal(count(scribble(grey(128), 9, 9)), 7);
  assert.equal(count(scribble(grey(127), 9, 9)), 0);
  // Inverted: dark line on a light background, 255 - 127 = 128 is a line, 255 - 128 is not.
  const inv = (v: number) => greyImage(9, 9, (x, y) => (y === 4 && x > 0 && x < 8 ? v : 255));
  assert.equal(count(scribble(inv(127), 9, 9)), 7);
  assert.equal(count(scribble(inv(128), 9, 9)), 0);
});

test('Zhang-Suen: a skeleton is a fixed point; empty and full images', () => {
  const [w, h] = [48, 40];
  const once = scribble(strokes(w, h, [[5, 5, 40, 35], [5, 35, 40, 5]], 3), w, h);
  assert.deepEqual(thinZhangSuen(once, w, h), once);
  assert.equal(count(scribble(new Uint8Array(w * h * 3), w, h)), 0);
  // An all-white image is background (majority), so there is nothing to draw.
  assert.equal(count(scribble(new Uint8Array(w * h * 3).fill(255), w, h)), 0);
  assert.throws(() => scribble(new Uint8Array(5), 2, 1), /needs 6/);
});
