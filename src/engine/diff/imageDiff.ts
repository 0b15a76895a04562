// Pixel differences between two renders of the same size: a per-pixel magnitude map (the preview paints
// it as a heatmap in a theme colour), the fraction of pixels that changed beyond a threshold, and PSNR.
// PSNR follows its textbook definition, 10·log10(MAX² / MSE) with MAX = 255 over all colour channels
// (as scikit-image's peak_signal_noise_ratio with data_range=255 computes it); alpha is ignored.
import { InputError } from '../errors';

/** Interleaved 8-bit pixels, 3 (RGB) or 4 (RGBA) channels per pixel. */
export interface PixelImage {
  readonly width: number;
  readonly height: number;
  readonly channels: 3 | 4;
  readonly data: Uint8Array;
}

export interface ImageDiffOptions {
  /**
   * A pixel counts as changed when its largest channel difference exceeds this (0–255). The default, 8,
   * ignores the dithering-level noise a re-encode or another CPU's float rounding leaves behind.
   */
  readonly threshold?: number;
}

export interface ImageDiff {
  readonly width: number;
  readonly height: number;
  /** Per pixel, the largest absolute difference over R, G and B (0–255), row-major. */
  readonly magnitude: Uint8Array;
  readonly changedPixels: number;
  /** changedPixels / (width × height). */
  readonly changedFraction: number;
  /** Mean squared error over all colour samples. */
  readonly mse: number;
  /** Peak signal-to-noise ratio in dB; Infinity for identical images. */
  readonly psnr: number;
  /** The largest channel difference anywhere (0 for identical images). */
  readonly maxDifference: number;
  readonly threshold: number;
}

export const DEFAULT_CHANGE_THRESHOLD = 8;

function checkImage(image: PixelImage, label: string): void {
  const expected = image.width * image.height * image.channels;
  if (!Number.isInteger(image.width) || !Number.isInteger(image.height) || image.width <= 0 || image.height <= 0) {
    throw new InputError(`${label} image has size ${image.width}×${image.height}; width and height must be positive integers`);
  }
  if (image.channels !== 3 && image.channels !== 4) throw new InputError(`${label} image has ${String(image.channels)} channels; allowed: 3 (RGB) or 4 (RGBA)`);
  if (image.data.length !== expected) {
    throw new InputError(`${label} image holds ${image.data.length} bytes; ${image.width}×${image.height}×${image.channels} needs ${expected}`);
  }
}

/** Compares `before` and `after` pixel by pixel; both must have the same width and height. */
export function diffImages(before: PixelImage, after: PixelImage, options: ImageDiffOptions = {}): ImageDiff {
  checkImage(before, 'the first');
  checkImage(after, 'the second');
  if (before.width !== after.width || before.height !== after.height) {
    throw new InputError(`the images differ in size (${before.width}×${before.height} and ${after.width}×${after.height}); a pixel diff needs equal sizes`);
  }
  const threshold = options.threshold ?? DEFAULT_CHANGE_THRESHOLD;
  if (!(threshold >= 0 && threshold <= 255)) throw new InputError(`change threshold ${threshold} is out of range; allowed: 0 to 255`);
  const { width, height } = before;
  const pixels = width * height;
  const magnitude = new Uint8Array(pixels);
  const a = before.data;
  const b = after.data;
  const ca = before.channels;
  const cb = after.channels;
  let squared = 0;
  let changed = 0;
  let maxDifference = 0;
  for (let p = 0; p < pixels; p++) {
    const ia = p * ca;
    const ib = p * cb;
    const dr = a[ia] - b[ib];
    const dg = a[ia + 1] - b[ib + 1];
    const db = a[ia + 2] - b[ib + 2];
    squared += dr * dr + dg * dg + db * db;
    const m = Math.max(Math.abs(dr), Math.abs(dg), Math.abs(db));
    magnitude[p] = m;
    if (m > threshold) changed++;
    if (m > maxDifference) maxDifference = m;
  }
  const mse = squared / (pixels * 3);
  const psnr = mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
  return { width, height, magnitude, changedPixels: changed, changedFraction: changed / pixels, mse, psnr, maxDifference, threshold };
}
