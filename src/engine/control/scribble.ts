// Scribble hints: a drawing in either polarity turned into 1-pixel white lines on black, as the scribble
// ControlNet expects. tools/tiny_model/hints.py implements the same steps (its masks train the model).
// 1. Luma in thousandths, L = 299 R + 587 G + 114 B (as canny.ts).
// 2. Polarity: the background is the majority. If more than half of the pixels are bright
//    (Y > 127.5, i.e. the median is above mid-grey) the lines are dark and the image is inverted.
// 3. Threshold at 127 on the white-lines image: a line pixel has Y > 127 (inverted: 255 - Y > 127).
// 4. Zhang-Suen thinning to a 1-pixel skeleton (pixels outside the image count as background).
//    Known limit of the algorithm: a stroke only 2 pixels thick everywhere (e.g. a 2x2 block) can vanish.
import { checkRGB, lumaThousandths } from './canny';

/** Scribble mask of an RGB drawing: width x height, 255 on the thinned lines and 0 elsewhere. */
export function scribble(rgb: Uint8Array, width: number, height: number): Uint8Array {
  checkRGB(rgb, width, height);
  const luma = lumaThousandths(rgb, width, height);
  const n = width * height;
  let bright = 0;
  for (let i = 0; i < n; i++) if (luma[i] > 127500) bright++;
  const invert = 2 * bright > n;
  const lines = new Uint8Array(n);
  for (let i = 0; i < n; i++) lines[i] = (invert ? luma[i] < 128000 : luma[i] > 127000) ? 1 : 0;
  return thinZhangSuen(lines, width, height);
}

/**
 * Zhang-Suen thinning of a 0/1 image (T. Y. Zhang and C. Y. Suen, CACM 27(3), 1984). Returns a mask with
 * 255 on the skeleton. Each sub-iteration marks pixels on the unchanged image, then deletes them all.
 */
export function thinZhangSuen(binary: Uint8Array, width: number, height: number): Uint8Array {
  // One pixel of zero padding around the image.
  const w = width + 2;
  const p = new Uint8Array(w * (height + 2));
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) p[(y + 1) * w + x + 1] = binary[y * width + x] ? 1 : 0;
  // Neighbour offsets P2..P9: N, NE, E, SE, S, SW, W, NW.
  const off = [-w, -w + 1, 1, w + 1, w, w - 1, -1, -w - 1];
  const marked: number[] = [];
  let changed = true;
  while (changed) {
    changed = false;
    for (let step = 0; step < 2; step++) {
      marked.length = 0;
      for (let y = 1; y <= height; y++) {
        for (let x = 1; x <= width; x++) {
          const i = y * w + x;
          if (p[i] === 0) continue;
          const n2 = p[i + off[0]], n3 = p[i + off[1]], n4 = p[i + off[2]], n5 = p[i + off[3]];
          const n6 = p[i + off[4]], n7 = p[i + off[5]], n8 = p[i + off[6]], n9 = p[i + off[7]];
          const b = n2 + n3 + n4 + n5 + n6 + n7 + n8 + n9;
          if (b < 2 || b > 6) continue;
          const a =
            (n2 === 0 && n3 === 1 ? 1 : 0) + (n3 === 0 && n4 === 1 ? 1 : 0) + (n4 === 0 && n5 === 1 ? 1 : 0) + (n5 === 0 && n6 === 1 ? 1 : 0) +
            (n6 === 0 && n7 === 1 ? 1 : 0) + (n7 === 0 && n8 === 1 ? 1 : 0) + (n8 === 0 && n9 === 1 ? 1 : 0) + (n9 === 0 && n2 === 1 ? 1 : 0);
          if (a !== 1) continue;
          if (step === 0 ? n2 * n4 * n6 === 0 && n4 * n6 * n8 === 0 : n2 * n4 * n8 === 0 && n2 * n6 * n8 === 0) marked.push(i);
        }
      }
      for (const i of marked) p[i] = 0;
      if (marked.length > 0) changed = true;
    }
  }
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = p[(y + 1) * w + x + 1] ? 255 : 0;
  return out;
}
