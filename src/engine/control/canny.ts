// Canny edge detection for ControlNet hints. tools/tiny_model/hints.py implements the same steps; the
// ControlNet is trained on its masks, so both must give the same pixels for the same RGB input.
//
// Every step up to the gradient is integer arithmetic held exactly in float64, and the rest uses only
// IEEE-exact operations (+, -, *, comparisons) in a fixed order, so the two implementations agree bit for bit:
// 1. Luma in thousandths: L = 299 R + 587 G + 114 B (= 1000 * (0.299 R + 0.587 G + 0.114 B), exactly).
// 2. Separable Gaussian blur with integer taps k[d] = floor(4096 exp(-d^2 / (2 sigma^2)) + 0.5),
//    d = -r..r, r = floor(1.5 sigma + 0.5) (sigma 1.4: r = 2, taps 1476 3174 4096 3174 1476); borders
//    replicate. The blurred value is the normalised blur times unit = 1000 * sum(k)^2.
// 3. Sobel 3x3 (unnormalised, weights 1 2 1) with replicated borders: gx (x to the right), gy (y down).
// 4. Non-maximum suppression on mag^2 = gx^2 + gy^2. The direction theta = atan2(gy, gx) folded into
//    [0, 180) is binned by comparisons with tan 22.5 = sqrt2 - 1 and tan 67.5 = sqrt2 + 1:
//    [0, 22.5) and [157.5, 180) -> 0 deg, neighbours (x-1, y) and (x+1, y);
//    [22.5, 67.5) -> 45 deg, (x-1, y-1) and (x+1, y+1); [67.5, 112.5) -> 90 deg, (x, y-1) and (x, y+1);
//    [112.5, 157.5) -> 135 deg, (x+1, y-1) and (x-1, y+1). (With integer gradients the bin edges other
//    than 0 and 90 are irrational, so they are never hit exactly.) A pixel stays if mag > 0, mag >= the
//    forward neighbour (the second of each pair) and mag > the backward one; outside the image counts
//    as 0. On a plateau one pixel survives.
// 5. Hysteresis on the magnitude of the 0..255 blurred luma: strong if mag >= high, candidate if
//    mag >= low; edges are the candidates 8-connected to a strong pixel through candidates.
// Output: 255 on edges, 0 elsewhere.

export interface CannyOptions {
  /** Low hysteresis threshold on the gradient magnitude (0..255 luma scale). Default 100. */
  readonly low?: number;
  /** High hysteresis threshold. Default 200. */
  readonly high?: number;
  /** Gaussian sigma in pixels, 0..4 (0: no blur). Default 1.4. */
  readonly sigma?: number;
}

export const CANNY_DEFAULTS = { low: 100, high: 200, sigma: 1.4 } as const;

const TAN_22_5 = Math.SQRT2 - 1;
const TAN_67_5 = Math.SQRT2 + 1;

/** Checks that `rgb` holds width x height interleaved RGB pixels. */
export function checkRGB(rgb: Uint8Array, width: number, height: number): void {
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > 16384) throw new RangeError(`image ${name} must be an integer from 1 to 16384, got ${value}`);
  }
  if (rgb.length !== width * height * 3) throw new RangeError(`RGB data has ${rgb.length} bytes; ${width}x${height} needs ${width * height * 3}`);
}

/** Luma in thousandths of a byte: 299 R + 587 G + 114 B, one value per pixel (exact integers). */
export function lumaThousandths(rgb: Uint8Array, width: number, height: number): Float64Array {
  const n = width * height;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = 299 * rgb[3 * i] + 587 * rgb[3 * i + 1] + 114 * rgb[3 * i + 2];
  return out;
}

/** The integer Gaussian taps for `sigma` (index r is the centre). */
export function gaussianTaps(sigma: number): number[] {
  const r = Math.floor(1.5 * sigma + 0.5);
  const taps: number[] = [];
  for (let d = -r; d <= r; d++) taps.push(d === 0 ? 4096 : Math.floor(4096 * Math.exp(-(d * d) / (2 * sigma * sigma)) + 0.5));
  return taps;
}

function blur(src: Float64Array, width: number, height: number, taps: readonly number[]): Float64Array {
  const r = (taps.length - 1) / 2;
  const tmp = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) {
        const xx = x + d < 0 ? 0 : x + d >= width ? width - 1 : x + d;
        s += taps[d + r] * src[row + xx];
      }
      tmp[row + x] = s;
    }
  }
  const out = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) {
        const yy = y + d < 0 ? 0 : y + d >= height ? height - 1 : y + d;
        s += taps[d + r] * tmp[yy * width + x];
      }
      out[y * width + x] = s;
    }
  }
  return out;
}

function checkOptions(options: CannyOptions): { low: number; high: number; sigma: number } {
  const low = options.low ?? CANNY_DEFAULTS.low;
  const high = options.high ?? CANNY_DEFAULTS.high;
  const sigma = options.sigma ?? CANNY_DEFAULTS.sigma;
  if (!Number.isFinite(low) || low < 0) throw new RangeError(`canny low threshold must be a number >= 0, got ${low}`);
  if (!Number.isFinite(high) || high < low) throw new RangeError(`canny high threshold must be a number >= the low threshold (${low}), got ${high}`);
  if (!Number.isFinite(sigma) || sigma < 0 || sigma > 4) throw new RangeError(`canny sigma must be from 0 to 4, got ${sigma}`);
  return { low, high, sigma };
}

/** Canny edges of an RGB image: a width x height mask, 255 on edges and 0 elsewhere. */
export function canny(rgb: Uint8Array, width: number, height: number, options: CannyOptions = {}): Uint8Array {
  checkRGB(rgb, width, height);
  const { low, high, sigma } = checkOptions(options);
  const taps = gaussianTaps(sigma);
  const tapSum = taps.reduce((a, b) => a + b, 0);
  const b = blur(lumaThousandths(rgb, width, height), width, height, taps);
  const n = width * height;

  // Sobel and squared magnitude.
  const gx = new Float64Array(n);
  const gy = new Float64Array(n);
  const mag2 = new Float64Array(n);
  for (let y = 0; y < height; y++) {
    const up = (y > 0 ? y - 1 : 0) * width;
    const mid = y * width;
    const down = (y < height - 1 ? y + 1 : y) * width;
    for (let x = 0; x < width; x++) {
      const l = x > 0 ? x - 1 : 0;
      const r = x < width - 1 ? x + 1 : x;
      const sx = b[up + r] + 2 * b[mid + r] + b[down + r] - (b[up + l] + 2 * b[mid + l] + b[down + l]);
      const sy = b[down + l] + 2 * b[down + x] + b[down + r] - (b[up + l] + 2 * b[up + x] + b[up + r]);
      gx[mid + x] = sx;
      gy[mid + x] = sy;
      mag2[mid + x] = sx * sx + sy * sy;
    }
  }

  // Non-maximum suppression, then thresholds.
  const unit = 1000 * tapSum * tapSum;
  const lowT = low * unit;
  const highT = high * unit;
  const low2 = lowT * lowT;
  const high2 = highT * highT;
  const at = (x: number, y: number): number => (x < 0 || y < 0 || x >= width || y >= height ? 0 : mag2[y * width + x]);
  // 0: not an edge candidate, 1: weak, 2: strong.
  const state = new Uint8Array(n);
  const stack: number[] = [];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const m = mag2[i];
      if (!(m > 0) || m < low2) continue;
      const ax = Math.abs(gx[i]);
      const ay = Math.abs(gy[i]);
      let fx: number;
      let fy: number;
      if (ay <= TAN_22_5 * ax) [fx, fy] = [1, 0];
      else if (ay >= TAN_67_5 * ax) [fx, fy] = [0, 1];
      else if (gx[i] > 0 === gy[i] > 0) [fx, fy] = [1, 1];
      else [fx, fy] = [-1, 1];
      if (m >= at(x + fx, y + fy) && m > at(x - fx, y - fy)) {
        if (m >= high2) {
          state[i] = 2;
          stack.push(i);
        } else {
          state[i] = 1;
        }
      }
    }
  }

  // Hysteresis: grow from the strong pixels through weak ones (8-connected).
  const out = new Uint8Array(n);
  for (const i of stack) out[i] = 255;
  while (stack.length > 0) {
    const i = stack.pop() as number;
    const x = i % width;
    const y = (i - x) / width;
    for (let dy = -1; dy <= 1; dy++) {
      const yy = y + dy;
      if (yy < 0 || yy >= height) continue;
      for (let dx = -1; dx <= 1; dx++) {
        const xx = x + dx;
        if (xx < 0 || xx >= width) continue;
        const j = yy * width + xx;
        if (state[j] === 1 && out[j] === 0) {
          out[j] = 255;
          stack.push(j);
        }
      }
    }
  }
  return out;
}
