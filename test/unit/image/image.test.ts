import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { InputError } from '../../../src/engine/errors';
import { fitLatentRGBFactors, latentToPreviewRGB, SD15_LATENT_RGB_FACTORS } from '../../../src/engine/image/latentPreview';
import { loadImageRGB, loadImageTensor } from '../../../src/engine/image/loadImage';
import { byteToUnit, imageTensorToRGB, rgbToImageTensor, unitToByte } from '../../../src/engine/image/rgbImage';

const root = mkdtempSync(join(tmpdir(), 'imgprompt-image-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('VAE output to bytes matches numpy: clamp((x/2+0.5), 0, 1) * 255, round half to even, in float32', () => {
  // Expected bytes computed with numpy 1.24 in float32: np.clip(x / 2 + 0.5, 0, 1) * 255, .round().
  const xs = [-1.5, -1.0, -0.5, 0.0, 0.003921569, 0.00392157, 0.5, 0.99, 1.0, 2.0, -0.99607843, 0.003921569, -0.9960784, NaN];
  const bytes = [0, 0, 64, 128, 128, 128, 191, 254, 255, 255, 0, 128, 1, 0];
  assert.deepEqual(xs.map((x) => unitToByte(Math.fround(x))), bytes);
  // numpy: np.float32(2) * (np.arange(256, dtype=np.float32) / np.float32(255)) - np.float32(1)
  assert.deepEqual([0, 1, 127, 128, 254, 255].map(byteToUnit), [-1, -0.9921568632125854, -0.003921568393707275, 0.003921627998352051, 0.9921568632125854, 1]);
  for (let v = 0; v < 256; v++) assert.equal(unitToByte(byteToUnit(v)), v, `byte ${v} round-trips`);
});

test('tensor <-> RGB conversions keep layout ([1,3,H,W] planar vs interleaved)', () => {
  const image = { width: 3, height: 2, data: Uint8Array.from({ length: 18 }, (_, i) => i * 14) };
  const tensor = rgbToImageTensor(image);
  assert.deepEqual(tensor.dims, [1, 3, 2, 3]);
  assert.equal(tensor.data[1], byteToUnit(image.data[3])); // R of pixel 1
  assert.equal(tensor.data[6 + 1], byteToUnit(image.data[4])); // G of pixel 1
  assert.deepEqual(imageTensorToRGB(tensor), image);
  const batch2 = { data: new Float32Array([...tensor.data, ...tensor.data.map(() => 1)]), dims: [2, 3, 2, 3] };
  assert.ok(imageTensorToRGB(batch2, 1).data.every((v) => v === 255));
  assert.throws(() => imageTensorToRGB(batch2, 2), /batch index 2 is outside 0\.\.1/);
  assert.throws(() => imageTensorToRGB({ data: new Float32Array(4), dims: [1, 4, 1, 1] }), /\[batch, 3, height, width\]/);
});

async function twoColour(path: string): Promise<void> {
  // 40x20: left half red, right half blue.
  const data = Buffer.alloc(40 * 20 * 3);
  for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) data.set(x < 20 ? [255, 0, 0] : [0, 0, 255], (y * 40 + x) * 3);
  await sharp(data, { raw: { width: 40, height: 20, channels: 3 } }).png().toFile(path);
}

const pixel = (img: { data: Uint8Array; width: number }, x: number, y: number) => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];

test('cover crops the centre, fill stretches, contain pads with black', async () => {
  const path = join(root, 'two.png');
  await twoColour(path);
  const cover = await loadImageRGB(path, { width: 10, height: 10 });
  assert.equal(cover.data.length, 300);
  assert.deepEqual(pixel(cover, 1, 5), [255, 0, 0]);
  assert.deepEqual(pixel(cover, 8, 5), [0, 0, 255]);
  const fill = await loadImageRGB(path, { width: 10, height: 10, fit: 'fill' });
  assert.deepEqual(pixel(fill, 0, 0), [255, 0, 0]);
  assert.deepEqual(pixel(fill, 9, 9), [0, 0, 255]);
  const contain = await loadImageRGB(path, { width: 10, height: 10, fit: 'contain' });
  assert.deepEqual(pixel(contain, 1, 0), [0, 0, 0], 'padding row');
  assert.deepEqual(pixel(contain, 1, 5), [255, 0, 0]);
  const tensor = await loadImageTensor(path, { width: 10, height: 10 });
  assert.deepEqual(tensor.dims, [1, 3, 10, 10]);
  assert.equal(tensor.data[5 * 10 + 1], 1); // red plane, left
  assert.equal(tensor.data[100 + 5 * 10 + 1], -1); // green plane
  assert.deepEqual(await loadImageRGB(path, { width: 10, height: 10 }), cover, 'deterministic');
});

test('transparency is flattened onto white', async () => {
  const path = join(root, 'transparent.png');
  await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toFile(path);
  const img = await loadImageRGB(path, { width: 4, height: 4 });
  assert.ok(img.data.every((v) => v === 255));
});

test('unreadable images give an InputError naming the file', async () => {
  const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#336699' } }).png().toBuffer();
  const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#336699' } }).jpeg().toBuffer();
  const cases: [string, string | Buffer | undefined, RegExp][] = [
    ['missing.png', undefined, /image file not found/],
    ['notes.png', 'this is a text file, not an image', /not an image format we can read \(supported: PNG, JPEG/],
    ['empty.png', '', /empty \(0 bytes\)/],
    ['half.png', png.subarray(0, png.length >> 1), /truncated or corrupt/],
    ['cut.jpg', jpeg.subarray(0, jpeg.length - 40), /truncated or corrupt/],
  ];
  for (const [name, content, message] of cases) {
    const path = join(root, name);
    if (content !== undefined) writeFileSync(path, content);
    await assert.rejects(loadImageRGB(path, { width: 8, height: 8 }), (e: unknown) => e instanceof InputError && e.path === path && message.test(e.message), name);
  }
  mkdirSync(join(root, 'folder.png'));
  await assert.rejects(loadImageRGB(join(root, 'folder.png'), { width: 8, height: 8 }), /found a folder/);
  await assert.rejects(loadImageRGB(join(root, 'x.png'), { width: 0, height: 8 }), /width must be an integer from 1 to 16384, got 0/);
});

test('latent preview applies the linear map and clamps', () => {
  // 2x1 latents, channels planar: pixel 0 = (1, 0, 0, 0), pixel 1 = (0, 0, 0, 5).
  const latents = new Float32Array([1, 0, 0, 0, 0, 0, 0, 5]);
  const rgb = latentToPreviewRGB(latents, 2, 1);
  const f = SD15_LATENT_RGB_FACTORS.factors;
  const expected0 = f[0].map((v) => Math.round(((v + 1) / 2) * 255));
  assert.deepEqual([...rgb.subarray(0, 3)], expected0);
  assert.deepEqual([...rgb.subarray(3)], [0, 0, 0], '5 * negative factors fall below -1: black');
  assert.throws(() => latentToPreviewRGB(new Float32Array(7), 2, 1), /need 8/);
});

test('fitted preview factors recover a known linear decoder', () => {
  const factors = [[0.5, -0.2, 0.1], [0.1, 0.4, -0.3], [-0.2, 0.3, 0.6], [0.05, -0.1, 0.2]];
  const bias = [0.1, -0.05, 0.02];
  const [h, w, s] = [6, 5, 2];
  let seed = 3;
  const latents = { data: Float32Array.from({ length: 4 * h * w }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1), dims: [1, 4, h, w] };
  const decoded = new Float32Array(3 * h * s * w * s);
  for (let k = 0; k < 3; k++)
    for (let y = 0; y < h * s; y++)
      for (let x = 0; x < w * s; x++) {
        let v = bias[k];
        for (let c = 0; c < 4; c++) v += latents.data[(c * h + Math.floor(y / s)) * w + Math.floor(x / s)] * factors[c][k];
        decoded[(k * h * s + y) * w * s + x] = v;
      }
  const fit = fitLatentRGBFactors(latents, { data: decoded, dims: [1, 3, h * s, w * s] });
  for (let c = 0; c < 4; c++) for (let k = 0; k < 3; k++) assert.ok(Math.abs(fit.factors[c][k] - factors[c][k]) < 1e-5);
  for (let k = 0; k < 3; k++) assert.ok(Math.abs(fit.bias[k] - bias[k]) < 1e-5);
});
