import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { CancelledError, InputError } from '../../../src/engine/errors';
import { loadHint } from '../../../src/engine/control/hint';
import { scribble } from '../../../src/engine/control/scribble';
import { loadImageRGB } from '../../../src/engine/image/loadImage';
import { components8, fullSquares } from './helpers';

const root = mkdtempSync(join(tmpdir(), 'imgprompt-hint-'));
after(() => rmSync(root, { recursive: true, force: true }));
const fixtures = join(__dirname, '../../fixtures/hints');
const count = (mask: Uint8Array) => mask.reduce((n, v) => n + (v ? 1 : 0), 0);

test('loadHint names the file when it is missing or not an image', async () => {
  const missing = join(root, 'nope.png');
  await assert.rejects(loadHint(missing, 'canny', 32, 32), (e: unknown) => e instanceof InputError && e.path === missing && e.message.includes(missing) && /not found/.test(e.message));
  const text = join(root, 'notes.png');
  writeFileSync(text, 'this is not an image\n');
  for (const type of ['canny', 'scribble', 'raw'] as const) {
    await assert.rejects(loadHint(text, type, 32, 32), (e: unknown) => e instanceof InputError && e.path === text && e.message.startsWith(`${text}: `) && new RegExp(`${type} hint.*not an image`).test(e.message));
  }
  await assert.rejects(loadHint(root, 'raw', 32, 32), (e: unknown) => e instanceof InputError && e.path === root && /folder/.test(e.message));
  await assert.rejects(loadHint(text, 'depth' as never, 32, 32), RangeError);
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(loadHint(join(fixtures, 'controlnet_house_scribble.png'), 'scribble', 32, 32, controller.signal), CancelledError);
});

test('raw hints are the resized image; the tensor is [1, 3, H, W] planar bytes / 255', async () => {
  const path = join(root, 'gradient.png');
  const [w, h] = [30, 20];
  const data = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set([(i * 7) % 256, (i * 3) % 256, 200], i * 3);
  await sharp(data, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path);
  const hint = await loadHint(path, 'raw', 24, 16);
  const ref = await loadImageRGB(path, { width: 24, height: 16 });
  assert.deepEqual(hint.rgb, ref.data);
  assert.equal(hint.tensor.length, 3 * 24 * 16);
  const plane = 24 * 16;
  for (const i of [0, 17, plane - 1]) {
    for (let c = 0; c < 3; c++) assert.equal(hint.tensor[c * plane + i], Math.fround(ref.data[i * 3 + c] / 255));
  }
});

test('the real ComfyUI scribbles load as sensible 1-pixel scribble masks', async () => {
  for (const [name, strokes] of [['controlnet_house_scribble.png', 1], ['controlnet_input_scribble_example.png', 1]] as const) {
    const path = join(fixtures, name);
    for (const [w, h] of [[128, 128], [160, 96]]) {
      const hint = await loadHint(path, 'scribble', w, h);
      assert.equal(hint.rgb.length, w * h * 3);
      const mask = hint.rgb.filter((_, i) => i % 3 === 0);
      assert.ok(hint.rgb.every((v) => v === 0 || v === 255) && hint.rgb.every((v, i) => v === hint.rgb[i - (i % 3)]), 'white on black, grey');
      const on = count(mask);
      assert.ok(on > 0.01 * w * h && on < 0.15 * w * h, `${name} at ${w}x${h}: ${on} line pixels`);
      // Zhang-Suen keeps a 2x2 block where several strokes meet and every pixel holds a branch on.
      assert.ok(fullSquares(mask, w, h) <= Math.max(3, 0.01 * on), `thin: ${fullSquares(mask, w, h)} 2x2 blocks`);
      assert.ok(components8(mask, w, h) >= strokes && components8(mask, w, h) < 60, `${name}: ${components8(mask, w, h)} strokes`);
      // Every line pixel is bright in the resized drawing (white lines on black, no inversion).
      const resized = await loadImageRGB(path, { width: w, height: h });
      for (let i = 0; i < w * h; i++) if (mask[i]) assert.ok(resized.data[i * 3] + resized.data[i * 3 + 1] + resized.data[i * 3 + 2] > 3 * 100);
      assert.deepEqual(hint.tensor.subarray(0, w * h), Float32Array.from(mask, (v) => v / 255));
      // The same drawing inverted (black lines on white) gives the same mask.
      const inverted = join(root, `inv-${name}`);
      await sharp(path).negate({ alpha: false }).toFile(inverted);
      const invRGB = await loadImageRGB(inverted, { width: w, height: h });
      const direct = scribble(resized.data, w, h);
      const fromInverted = scribble(invRGB.data, w, h);
      const agree = direct.reduce((n, v, i) => n + (v === fromInverted[i] ? 1 : 0), 0);
      assert.ok(agree >= 0.995 * w * h, `inverted ${name}: ${agree} of ${w * h} pixels agree (resampling rounds differently)`);
    }
  }
});

test('canny hints are binary grey RGB from the resized image', async () => {
  const hint = await loadHint(join(fixtures, 'controlnet_house_scribble.png'), 'canny', 128, 128);
  assert.ok(hint.rgb.every((v, i) => (v === 0 || v === 255) && v === hint.rgb[i - (i % 3)]));
  assert.ok(count(hint.rgb) > 0);
});
