// Detects the watermark in any 8-bit RGB image, with or without metadata. The luma is high-passed (a
// local mean removed, large residuals clipped so a figure's edges cannot outvote the faint code),
// folded modulo the tile so every repetition adds up, and summed over 4×4 blocks: that is the Haar LL2
// band at every possible grid phase. The known sync chips are correlated at all 128×128 circular
// offsets (a crop only shifts the tile) and at each candidate scale (a figure halved in size is
// upsampled back first); at the best offset the codeword bits are read by the sign of their summed,
// de-whitened chips, and the payload counts only when its CRC-16 matches and the sync correlation
// clears a threshold that unmarked images do not reach.
import type { RGBImage } from '../image/rgbImage';
import { CELL, CODEWORD_BITS, TILE, TILE_CELLS, chipLayout, decodeCodeword } from './watermarkCode';

/** At most this many pixels (after rescaling) are folded: a centred window still holds dozens of tiles. */
const MAX_FOLD_SIDE = 1024;

/** Normalised sync correlation above which a CRC-checked payload counts (unmarked images measured at most about 0.3). */
export const DETECTION_THRESHOLD = 0.36;
/** Scales tried: 1 (as rendered) and 2 (the image was downscaled to half). */
export const DEFAULT_SCALES = [1, 2] as const;
const BLUR_RADIUS = 4;
const CLIP = 4;
/** Block sums are clipped at this multiple of their median magnitude, so edge blocks weigh like chips. */
const BLOCK_CLIP = 2;

export interface WatermarkDetection {
  /** A payload whose CRC matched at a sync correlation above the threshold. */
  readonly detected: boolean;
  /** The payload (8 hex digits, the recipe hash's first 32 bits) when detected. */
  readonly payload?: string;
  /** Normalised correlation of the sync chips at the best offset, in [-1, 1]. */
  readonly confidence: number;
  readonly scale: number;
  /** Where the tile grid starts in the (rescaled) image, in pixels. */
  readonly offset: { readonly x: number; readonly y: number };
  /** The 48 hard-decided codeword bits (payload, then CRC) at the best offset. */
  readonly bits: Uint8Array;
}

export interface DetectOptions {
  readonly scales?: readonly number[];
}

/** Rec. 601 luma of 8-bit RGB as floats. */
function luma(image: RGBImage): Float32Array {
  const { data, width, height } = image;
  const out = new Float32Array(width * height);
  for (let i = 0, j = 0; i < out.length; i++, j += 3) out[i] = 0.299 * data[j] + 0.587 * data[j + 1] + 0.114 * data[j + 2];
  return out;
}

/**
 * A centred window of at most `side` pixels a side whose origin is a multiple of `step`, so offsets found
 * in it are offsets in the whole image (modulo the tile).
 */
function centredWindow(plane: Float32Array, width: number, height: number, side: number, step: number): { plane: Float32Array; width: number; height: number } {
  if (width <= side && height <= side) return { plane, width, height };
  const w = Math.min(width, side);
  const h = Math.min(height, side);
  const x0 = Math.floor((width - w) / 2 / step) * step;
  const y0 = Math.floor((height - h) / 2 / step) * step;
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) out.set(plane.subarray((y + y0) * width + x0, (y + y0) * width + x0 + w), y * w);
  return { plane: out, width: w, height: h };
}

/** Bilinear resampling of a plane by `scale` (pixel centres aligned). */
function rescale(plane: Float32Array, width: number, height: number, scale: number): { plane: Float32Array; width: number; height: number } {
  if (scale === 1) return { plane, width, height };
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(Math.max((y + 0.5) / scale - 0.5, 0), height - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, height - 1);
    const fy = sy - y0;
    for (let x = 0; x < w; x++) {
      const sx = Math.min(Math.max((x + 0.5) / scale - 0.5, 0), width - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, width - 1);
      const fx = sx - x0;
      const top = plane[y0 * width + x0] * (1 - fx) + plane[y0 * width + x1] * fx;
      const bottom = plane[y1 * width + x0] * (1 - fx) + plane[y1 * width + x1] * fx;
      out[y * w + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return { plane: out, width: w, height: h };
}

/** The high-passed, clipped plane folded modulo the tile: a TILE×TILE sum. */
function foldedResidual(plane: Float32Array, width: number, height: number): Float64Array {
  // Integral image for the local mean over a (2r+1)² window, clamped at the borders.
  const iw = width + 1;
  const integral = new Float64Array(iw * (height + 1));
  for (let y = 0; y < height; y++) {
    let row = 0;
    for (let x = 0; x < width; x++) {
      row += plane[y * width + x];
      integral[(y + 1) * iw + x + 1] = integral[y * iw + x + 1] + row;
    }
  }
  const folded = new Float64Array(TILE * TILE);
  for (let y = 0; y < height; y++) {
    const y0 = Math.max(0, y - BLUR_RADIUS);
    const y1 = Math.min(height, y + BLUR_RADIUS + 1);
    const ty = (y % TILE) * TILE;
    for (let x = 0; x < width; x++) {
      const x0 = Math.max(0, x - BLUR_RADIUS);
      const x1 = Math.min(width, x + BLUR_RADIUS + 1);
      const sum = integral[y1 * iw + x1] - integral[y0 * iw + x1] - integral[y1 * iw + x0] + integral[y0 * iw + x0];
      let r = plane[y * width + x] - sum / ((y1 - y0) * (x1 - x0));
      r = r > CLIP ? CLIP : r < -CLIP ? -CLIP : r;
      folded[ty + (x % TILE)] += r;
    }
  }
  return folded;
}

/** Circular CELL×CELL block sums of the folded tile, stored doubled (2·TILE square) so offsets need no modulo. */
function blockSums(folded: Float64Array): Float64Array {
  const rows = new Float64Array(TILE * TILE);
  for (let y = 0; y < TILE; y++) {
    for (let x = 0; x < TILE; x++) {
      let s = 0;
      for (let u = 0; u < CELL; u++) s += folded[y * TILE + ((x + u) % TILE)];
      rows[y * TILE + x] = s;
    }
  }
  const D = 2 * TILE;
  const out = new Float64Array(D * D);
  for (let y = 0; y < TILE; y++) {
    for (let x = 0; x < TILE; x++) {
      let s = 0;
      for (let u = 0; u < CELL; u++) s += rows[((y + u) % TILE) * TILE + x];
      out[y * D + x] = s;
    }
  }
  const magnitudes = Float64Array.from({ length: TILE * TILE }, (_, i) => Math.abs(out[Math.floor(i / TILE) * D + (i % TILE)])).sort();
  const limit = BLOCK_CLIP * magnitudes[magnitudes.length >> 1];
  for (let y = 0; y < TILE; y++) {
    for (let x = 0; x < TILE; x++) {
      let s = out[y * D + x];
      s = s > limit ? limit : s < -limit ? -limit : s;
      out[y * D + x] = out[y * D + x + TILE] = out[(y + TILE) * D + x] = out[(y + TILE) * D + x + TILE] = s;
    }
  }
  return out;
}

interface Candidate {
  confidence: number;
  scale: number;
  dx: number;
  dy: number;
  blocks: Float64Array;
}

function bestOffset(blocks: Float64Array, scale: number): Candidate {
  const { syncCells, syncValues } = chipLayout();
  const D = 2 * TILE;
  const n = syncCells.length;
  const base = new Int32Array(n);
  for (let k = 0; k < n; k++) base[k] = CELL * Math.floor(syncCells[k] / TILE_CELLS) * D + CELL * (syncCells[k] % TILE_CELLS);
  let best: Candidate = { confidence: 0, scale, dx: 0, dy: 0, blocks };
  for (let dy = 0; dy < TILE; dy++) {
    for (let dx = 0; dx < TILE; dx++) {
      const shift = dy * D + dx;
      let s = 0;
      let q = 0;
      for (let k = 0; k < n; k++) {
        const v = blocks[base[k] + shift];
        s += syncValues[k] * v;
        q += v * v;
      }
      const rho = q > 1e-9 ? s / Math.sqrt(n * q) : 0;
      if (rho > best.confidence) best = { confidence: rho, scale, dx, dy, blocks };
    }
  }
  return best;
}

/** The summed, de-whitened chips of each codeword bit at the candidate's offset (sign = bit, size = reliability). */
function softBits(c: Candidate): Float64Array {
  const { bitCells, bitIndex, bitSigns } = chipLayout();
  const D = 2 * TILE;
  const soft = new Float64Array(CODEWORD_BITS);
  for (let k = 0; k < bitCells.length; k++) {
    const at = (CELL * Math.floor(bitCells[k] / TILE_CELLS) + c.dy) * D + CELL * (bitCells[k] % TILE_CELLS) + c.dx;
    soft[bitIndex[k]] += bitSigns[k] * c.blocks[at];
  }
  return soft;
}

/**
 * Chase decoding: the hard decision, then every flip of one or two of the CHASE_BITS least reliable
 * bits, until the CRC matches. Only tried where the sync correlation already says a mark is present.
 */
const CHASE_BITS = 8;
function decodeSoft(soft: Float64Array): { bits: Uint8Array; payload?: string } {
  const hard = Uint8Array.from(soft, (v) => (v > 0 ? 1 : 0));
  const weakest = Array.from(soft.keys()).sort((a, b) => Math.abs(soft[a]) - Math.abs(soft[b])).slice(0, CHASE_BITS);
  const flips: number[][] = [[]];
  for (let i = 0; i < weakest.length; i++) {
    flips.push([weakest[i]]);
    for (let j = 0; j < i; j++) flips.push([weakest[j], weakest[i]]);
  }
  for (const flip of flips) {
    const bits = Uint8Array.from(hard);
    for (const i of flip) bits[i] ^= 1;
    const payload = decodeCodeword(bits);
    if (payload !== undefined) return { bits, payload };
  }
  return { bits: hard };
}

/** Looks for the watermark in `image`; never throws for image content. */
export function detectWatermark(image: RGBImage, options: DetectOptions = {}): WatermarkDetection {
  const plane = luma(image);
  let result: WatermarkDetection | undefined;
  for (const scale of options.scales ?? DEFAULT_SCALES) {
    const window = centredWindow(plane, image.width, image.height, Math.round(MAX_FOLD_SIDE / scale), Math.max(1, Math.round(TILE / scale)));
    const scaled = rescale(window.plane, window.width, window.height, scale);
    const candidate = bestOffset(blockSums(foldedResidual(scaled.plane, scaled.width, scaled.height)), scale);
    const soft = softBits(candidate);
    const { bits, payload } = candidate.confidence >= DETECTION_THRESHOLD ? decodeSoft(soft) : { bits: Uint8Array.from(soft, (v) => (v > 0 ? 1 : 0)), payload: undefined };
    // The shift that matched is where chip (0, 0) of a tile sits in the (rescaled) image.
    const offset = { x: candidate.dx, y: candidate.dy };
    const here: WatermarkDetection = { detected: payload !== undefined, payload, confidence: candidate.confidence, scale, offset, bits };
    if (!result || (here.detected && !result.detected) || (here.detected === result.detected && here.confidence > result.confidence)) result = here;
  }
  return result!;
}
