// The visible label: drawn in the requested corner only, in the font's shapes, cut to fit; parsed from
// the scene in its short and long forms with errors at the right place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drawLabel, parseScene, type RGBImage } from '../../../src/engine/index';

const grey = (width: number, height: number): RGBImage => ({ data: new Uint8Array(width * height * 3).fill(128), width, height });

function changedBox(a: RGBImage, b: RGBImage): { x0: number; y0: number; x1: number; y1: number } | undefined {
  let box: { x0: number; y0: number; x1: number; y1: number } | undefined;
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      const i = (y * a.width + x) * 3;
      if (a.data[i] === b.data[i]) continue;
      box = box ? { x0: Math.min(box.x0, x), y0: Math.min(box.y0, y), x1: Math.max(box.x1, x), y1: Math.max(box.y1, y) } : { x0: x, y0: y, x1: x, y1: y };
    }
  }
  return box;
}

test('the label is drawn in its corner: a dark box with white glyph pixels, nothing else touched', () => {
  const image = grey(128, 96);
  const out = drawLabel(image, { text: 'AI', corner: 'bottom-right', size: 14, opacity: 1 });
  const box = changedBox(image, out)!;
  // scale 2: two glyphs of 6 columns less the last gap (22 px) + 2×4 padding = 30 wide, 7×2 + 8 = 22 high, 4 px margin.
  assert.deepEqual(box, { x0: 128 - 4 - 30, y0: 96 - 4 - 22, x1: 128 - 5, y1: 96 - 5 });
  const at = (x: number, y: number) => out.data[(y * 128 + x) * 3];
  assert.equal(at(box.x0, box.y0), Math.round(128 * 0.4)); // the box: black at 60% of the opacity
  // The A's apex (row 0, column 2 of the glyph) is ink; its corner (row 0, column 0) is not.
  assert.equal(at(box.x0 + 4 + 2 * 2, box.y0 + 4), 255);
  assert.equal(at(box.x0 + 4, box.y0 + 4), Math.round(128 * 0.4));
  assert.ok(Buffer.from(drawLabel(image, { text: 'AI', corner: 'bottom-right', size: 14, opacity: 1 }).data).equals(Buffer.from(out.data)), 'not deterministic');
  assert.ok(Buffer.from(image.data).every((v) => v === 128), 'the input was modified');
});

test('corners, fitting and lower case', () => {
  const image = grey(64, 64);
  const topLeft = changedBox(image, drawLabel(image, { text: 'x', corner: 'top-left', size: 7, opacity: 0.5 }))!;
  assert.deepEqual([topLeft.x0, topLeft.y0], [2, 2]);
  const long = drawLabel(image, { text: 'AI-GENERATED WITH A VERY LONG NAME', corner: 'bottom-left', size: 7, opacity: 0.5 });
  const box = changedBox(image, long)!;
  assert.ok(box.x1 < 64 - 2, 'the cut text stays inside the image');
  assert.ok(Buffer.from(drawLabel(image, { text: 'ai', corner: 'top-left', size: 7, opacity: 1 }).data).equals(Buffer.from(drawLabel(image, { text: 'AI', corner: 'top-left', size: 7, opacity: 1 }).data)));
});

test('label: TEXT and label: {text, corner, size, opacity} parse; bad values are errors at their place', () => {
  assert.deepEqual(parseScene('prompt: p\nlabel: AI-generated\n').scene.label, { text: 'AI-generated' });
  assert.deepEqual(parseScene('prompt: p\nlabel: {corner: top-left, size: 12, opacity: 0.5}\n').scene.label, { corner: 'top-left', size: 12, opacity: 0.5 });
  const bad = parseScene('prompt: p\nlabel:\n  corner: middle\n  opacity: 2\n').diagnostics.map((d) => `${d.range.start.line}:${d.code}`);
  assert.deepEqual(bad, ['2:unknown-value', '3:out-of-range']);
});
