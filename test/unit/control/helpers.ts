// Synthetic images and mask measurements for the control tests.

/** A width x height grey image: RGB bytes from a per-pixel value function (clamped, rounded). */
export function greyImage(width: number, height: number, value: (x: number, y: number) => number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = Math.max(0, Math.min(255, Math.round(value(x, y))));
      out.set([v, v, v], (y * width + x) * 3);
    }
  }
  return out;
}

/** Fraction of pixel (x, y) covered by the disc, from 8x8 sub-samples. */
export function discCoverage(x: number, y: number, cx: number, cy: number, r: number): number {
  let inside = 0;
  for (let j = 0; j < 8; j++) for (let i = 0; i < 8; i++) if ((x + (i + 0.5) / 8 - cx) ** 2 + (y + (j + 0.5) / 8 - cy) ** 2 <= r * r) inside++;
  return inside / 64;
}

/** A deterministic uniform generator in [0, 1) (mulberry32). */
export { mulberry32 as uniform } from '../prng';

/** The (x, y) of every non-zero mask pixel. */
export function onPixels(mask: Uint8Array, width: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i]) out.push([i % width, Math.floor(i / width)]);
  return out;
}

/** Number of 8-connected components of the non-zero pixels. */
export function components8(mask: Uint8Array, width: number, height: number): number {
  const seen = new Uint8Array(mask.length);
  let count = 0;
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || seen[start]) continue;
    count++;
    const stack = [start];
    seen[start] = 1;
    while (stack.length) {
      const i = stack.pop() as number;
      const x = i % width;
      const y = (i - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          const yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= width || yy >= height) continue;
          const j = yy * width + xx;
          if (mask[j] && !seen[j]) {
            seen[j] = 1;
            stack.push(j);
          }
        }
      }
    }
  }
  return count;
}

/** Whether a 4-connected walk through zero pixels leads from (x0, y0) to (x1, y1). */
export function reachable4(mask: Uint8Array, width: number, height: number, [x0, y0]: [number, number], [x1, y1]: [number, number]): boolean {
  const seen = new Uint8Array(mask.length);
  const stack = [y0 * width + x0];
  seen[stack[0]] = 1;
  while (stack.length) {
    const i = stack.pop() as number;
    if (i === y1 * width + x1) return true;
    const x = i % width;
    const y = (i - x) / width;
    for (const [xx, yy] of [[x + 1, y], [x - 1, y], [x, y + 1], [x, y - 1]]) {
      if (xx < 0 || yy < 0 || xx >= width || yy >= height) continue;
      const j = yy * width + xx;
      if (!mask[j] && !seen[j]) {
        seen[j] = 1;
        stack.push(j);
      }
    }
  }
  return false;
}

/** Number of 2x2 windows whose four pixels are all set (0 for a 1-pixel-thin line). */
export function fullSquares(mask: Uint8Array, width: number, height: number): number {
  let n = 0;
  for (let y = 0; y + 1 < height; y++) {
    for (let x = 0; x + 1 < width; x++) {
      const i = y * width + x;
      if (mask[i] && mask[i + 1] && mask[i + width] && mask[i + width + 1]) n++;
    }
  }
  return n;
}

/** Largest Chebyshev distance from a set pixel of `a` to the nearest set pixel of `b` (Infinity if b is empty). */
export function directedDistance(a: Uint8Array, b: Uint8Array, width: number, height: number): number {
  const pb = onPixels(b, width);
  let worst = 0;
  for (const [x, y] of onPixels(a, width)) {
    let best = Infinity;
    for (let dy = -3; dy <= 3 && best > 0; dy++) {
      for (let dx = -3; dx <= 3; dx++) {
        const xx = x + dx;
        const yy = y + dy;
        if (xx >= 0 && yy >= 0 && xx < width && yy < height && b[yy * width + xx]) best = Math.min(best, Math.max(Math.abs(dx), Math.abs(dy)));
      }
    }
    if (best === Infinity && pb.length) best = Math.min(...pb.map(([bx, by]) => Math.max(Math.abs(bx - x), Math.abs(by - y))));
    worst = Math.max(worst, best);
  }
  return worst;
}

/** The width x height mask rotated 90 degrees clockwise (result is height x width). */
export function rotateMask90(mask: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(mask.length);
  // (x, y) -> (height - 1 - y, x) in a height-wide image.
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[x * height + (height - 1 - y)] = mask[y * width + x];
  return out;
}

/** RGB rotated 90 degrees clockwise. */
export function rotateRGB90(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) out.set(rgb.subarray((y * width + x) * 3, (y * width + x) * 3 + 3), (x * height + (height - 1 - y)) * 3);
  }
  return out;
}
