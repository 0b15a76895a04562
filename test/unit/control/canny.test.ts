import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canny, gaussianTaps } from '../../../src/engine/control/canny';
import { maskToRGB } from '../../../src/engine/control/hint';
import {
  components8,
  directedDistance,
  discCoverage,
  fullSquares,
  greyImage,
  onPixels,
  reachable4,
  rotateMask90,
  rotateRGB90,
  uniform,
} from './helpers';

const count = (mask: Uint8Array) => mask.reduce((n, v) => n + (v ? 1 : 0), 0);

test('Gaussian taps for sigma 1.4 are round(4096 exp(-d^2 / 3.92)): 1476 3174 4096 3174 1476', () => {
  // 4096 * exp(-1 / 3.92) = 3173.6, 4096 * exp(-4 / 3.92) = 1476.4 (by hand).
  assert.deepEqual(gaussianTaps(1.4), [1476, 3174, 4096, 3174, 1476]);
  assert.equal(gaussianTaps(0).length, 1);
  assert.equal(gaussianTaps(1).length, 5);
});

test('thresholds act on the L2 gradient of the 0..255 blurred luma (step-edge peak 4 * 7270 / 13396 * h)', () => {
  // A vertical step of height h: blurred profile h * cumulative taps / 13396, Sobel gx = 4 (B[x+1] - B[x-1]),
  // so the peak is 4 * (4096 + 3174) / 13396 * h = 2.1708 h. high 200 needs h >= 92.13.
  const step = (h: number) => greyImage(40, 20, (x) => (x >= 20 ? h : 0));
  assert.equal(count(canny(step(92), 40, 20)), 0, 'h 92 peaks at 199.7 < 200');
  assert.equal(count(canny(step(93), 40, 20)), 20, 'h 93 peaks at 201.9: one edge pixel per row');
  // Without blur the Sobel peak is exactly 4 h; the comparisons are >=.
  assert.equal(count(canny(step(50), 40, 20, { sigma: 0, low: 200, high: 200 })), 20);
  assert.equal(count(canny(step(50), 40, 20, { sigma: 0, low: 200, high: 200.001 })), 0);
  // The luma weights are 0.299 / 0.587 / 0.114: pure green 255 has luma 149.7, pure blue 29.1.
  const colourStep = (rgb: [number, number, number]) => {
    const out = new Uint8Array(40 * 20 * 3);
    for (let i = 0; i < 800; i++) if (i % 40 >= 20) out.set(rgb, i * 3);
    return out;
  };
  assert.equal(count(canny(colourStep([0, 255, 0]), 40, 20)), 20);
  assert.equal(count(canny(colourStep([0, 0, 255]), 40, 20, { low: 60, high: 63 })), 20, 'blue step peaks at 29.07 * 2.1708 = 63.1');
  assert.equal(count(canny(colourStep([0, 0, 255]), 40, 20, { low: 60, high: 64 })), 0);
});

test('a filled axis-aligned square gives a closed 1-pixel-thick contour within 1 px of its border', () => {
  const size = 64;
  const [lo, hi] = [16, 47]; // the square covers pixels 16..47; its border runs along 15.5 and 47.5
  const mask = canny(greyImage(size, size, (x, y) => (x >= lo && x <= hi && y >= lo && y <= hi ? 255 : 0)), size, size);
  const edges = onPixels(mask, size);
  assert.ok(edges.length > 100, `${edges.length} edge pixels`);
  for (const [x, y] of edges) {
    const cx = x + 0.5;
    const cy = y + 0.5;
    const dx = Math.max(lo - cx, 0, cx - (hi + 1));
    const dy = Math.max(lo - cy, 0, cy - (hi + 1));
    const d = dx > 0 || dy > 0 ? Math.hypot(dx, dy) : Math.min(cx - lo, hi + 1 - cx, cy - lo, hi + 1 - cy);
    assert.ok(d <= 1, `edge pixel (${x}, ${y}) is ${d.toFixed(2)} px from the border`);
  }
  // One pixel thick: away from the corners each row meets the left and right sides once, each column the
  // top and bottom once.
  for (let k = lo + 3; k <= hi - 3; k++) {
    assert.equal(edges.filter(([x, y]) => y === k && x < 32).length, 1, `row ${k}, left side`);
    assert.equal(edges.filter(([x, y]) => y === k && x >= 32).length, 1, `row ${k}, right side`);
    assert.equal(edges.filter(([x, y]) => x === k && y < 32).length, 1, `column ${k}, top side`);
    assert.equal(edges.filter(([x, y]) => x === k && y >= 32).length, 1, `column ${k}, bottom side`);
  }
  assert.equal(fullSquares(mask, size, size), 0);
  // Closed: one 8-connected contour that the outside cannot cross (4-connected walk).
  assert.equal(components8(mask, size, size), 1);
  assert.equal(reachable4(mask, size, size, [0, 0], [32, 32]), false);
  // No edges on the flat regions (inside or outside, 3 px from the border).
  assert.ok(edges.every(([x, y]) => !(x > lo + 2 && x < hi - 2 && y > lo + 2 && y < hi - 2)));
});

test('uniform images have no edges, whatever the colour or size', () => {
  for (const [w, h] of [[1, 1], [1, 9], [7, 1], [3, 2], [33, 17]]) {
    for (const rgb of [[0, 0, 0], [255, 255, 255], [220, 40, 40], [17, 200, 99]]) {
      const data = new Uint8Array(w * h * 3);
      for (let i = 0; i < w * h; i++) data.set(rgb, i * 3);
      assert.equal(count(canny(data, w, h, { low: 0.001, high: 0.001 })), 0, `${w}x${h} ${rgb}`);
    }
  }
});

function shapesImage(width: number, height: number, noise: number, seed: number): Uint8Array {
  const rnd = uniform(seed);
  return greyImage(width, height, (x, y) => {
    let v = 40;
    if (x >= 8 && x < 30 && y >= 10 && y < 40) v = 200;
    v += 150 * discCoverage(x, y, 45.3, 30.6, 12.2);
    if (y > 48 && x > 10 && x < 60 && y - 48 < (x - 10) * 0.4) v = 120;
    return v + (rnd() * 2 - 1) * noise;
  });
}

test('higher thresholds give a subset of the edges (low and high separately and together)', () => {
  const [w, h] = [64, 64];
  const img = shapesImage(w, h, 25, 3);
  const isSubset = (a: Uint8Array, b: Uint8Array) => a.every((v, i) => !v || b[i]);
  const ladders: [number, number][][] = [
    [[20, 40], [40, 80], [60, 120], [100, 200], [150, 300], [250, 400]],
    [[30, 200], [60, 200], [100, 200], [150, 200], [200, 200]],
    [[50, 60], [50, 100], [50, 200], [50, 300], [50, 500]],
  ];
  for (const ladder of ladders) {
    const masks = ladder.map(([low, high]) => canny(img, w, h, { low, high }));
    for (let k = 1; k < masks.length; k++) assert.ok(isSubset(masks[k], masks[k - 1]), `${ladder[k]} within ${ladder[k - 1]}`);
    assert.ok(count(masks[0]) > count(masks[masks.length - 1]), `${ladder}: thresholds change the result (${masks.map(count)})`);
  }
});

test('rotating the input by 90 degrees rotates the edges (within 1 px: plateau tie-breaks are oriented)', () => {
  const [w, h] = [64, 48];
  const img = shapesImage(w, h, 8, 5);
  const edges = canny(img, w, h);
  const rotatedInput = canny(rotateRGB90(img, w, h), h, w);
  const rotatedEdges = rotateMask90(edges, w, h);
  assert.ok(count(edges) > 80);
  assert.ok(directedDistance(rotatedInput, rotatedEdges, h, w) <= 1);
  assert.ok(directedDistance(rotatedEdges, rotatedInput, h, w) <= 1);
  assert.ok(Math.abs(count(rotatedInput) - count(edges)) <= 0.03 * count(edges), `${count(rotatedInput)} vs ${count(edges)}`);
});

test('noise below the low threshold adds no edges', () => {
  // Blurred values stay within the noise range [c - a, c + a], so |gx|, |gy| <= 8a and the magnitude is at
  // most 8 sqrt(2) a = 67.9 for a = 6: below the low threshold 100.
  const [w, h] = [64, 64];
  const rnd = uniform(11);
  assert.equal(count(canny(greyImage(w, h, () => 128 + Math.round((rnd() * 2 - 1) * 6)), w, h)), 0);
  // Control: strong noise does produce edges.
  assert.ok(count(canny(greyImage(w, h, () => 128 + (rnd() * 2 - 1) * 120), w, h)) > 0);
  // On a square the noisy contour stays at the clean one and closed, and the flat parts stay empty.
  const square = (x: number, y: number) => (x >= 16 && x <= 47 && y >= 16 && y <= 47 ? 200 : 50);
  const clean = canny(greyImage(w, h, square), w, h);
  const noisy = canny(greyImage(w, h, (x, y) => square(x, y) + Math.round((rnd() * 2 - 1) * 6)), w, h);
  assert.ok(directedDistance(noisy, clean, w, h) <= 1, 'noisy edges within 1 px of the clean contour');
  assert.equal(components8(noisy, w, h), 1);
  assert.equal(reachable4(noisy, w, h, [0, 0], [32, 32]), false);
});

test("an antialiased circle's edge pixels lie within 1.5 px of the true radius, all the way round", () => {
  const [w, h] = [72, 64];
  const [cx, cy, r] = [36.3, 31.7, 21.4];
  const mask = canny(greyImage(w, h, (x, y) => 30 + 200 * discCoverage(x, y, cx, cy, r)), w, h);
  const edges = onPixels(mask, w);
  const sectors = new Set<number>();
  for (const [x, y] of edges) {
    const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
    assert.ok(Math.abs(d - r) <= 1.5, `edge pixel (${x}, ${y}) at radius ${d.toFixed(2)}`);
    sectors.add(Math.floor(((Math.atan2(y + 0.5 - cy, x + 0.5 - cx) + Math.PI) / (2 * Math.PI)) * 36) % 36);
  }
  assert.equal(sectors.size, 36, 'edges in every 10-degree sector');
  assert.ok(edges.length < 2 * Math.PI * r * 1.25, `${edges.length} pixels: thin`);
  assert.equal(reachable4(mask, w, h, [0, 0], [36, 31]), false, 'closed');
});

test('maskToRGB repeats the mask in R, G and B; bad arguments are RangeErrors', () => {
  assert.deepEqual([...maskToRGB(Uint8Array.from([0, 255]), 2, 1)], [0, 0, 0, 255, 255, 255]);
  assert.throws(() => maskToRGB(new Uint8Array(3), 2, 1), RangeError);
  const img = new Uint8Array(4 * 4 * 3);
  assert.throws(() => canny(img, 4, 5), /needs 60/);
  assert.throws(() => canny(img, 0, 4), /width/);
  assert.throws(() => canny(img, 4, 4, { low: -1 }), /low/);
  assert.throws(() => canny(img, 4, 4, { low: 50, high: 40 }), /high/);
  assert.throws(() => canny(img, 4, 4, { sigma: 5 }), /sigma/);
  assert.throws(() => canny(img, 4, 4, { low: NaN }), /low/);
});
