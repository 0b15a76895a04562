// Encodes rendered pixels as a PNG carrying the recipe's provenance. The encoder is our own (PNG spec:
// IHDR + one zlib IDAT + IEND, 8-bit, no interlace) with libpng's adaptive filter heuristic (per row, the
// filter whose output has the smallest sum of absolute signed bytes) and zlib level 6 from Node's bundled
// zlib: the same pixels and recipe always give the same bytes for a given Node build, without a
// libvips pipeline per figure.
import { deflateSync } from 'node:zlib';
import { buildMetadataEntries } from './metadataEntries';
import { encodePngChunks, type PngChunk } from './pngChunks';
import { insertTextChunks, type PngTextEntry } from './pngText';
import type { RecipeMetadataFields } from './recipeFields';

/** Interleaved 8-bit pixels, row-major, top row first. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA. */
  channels: 1 | 2 | 3 | 4;
}

/** Fixed so output bytes never depend on a library's defaults changing between versions. */
const ZLIB_LEVEL = 6;
/** PNG colour types by channel count: grey, grey + alpha, RGB, RGBA. */
const COLOR_TYPE = { 1: 0, 2: 4, 3: 2, 4: 6 } as const;

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Filters every scanline (filter byte + filtered bytes), choosing per row as libpng's heuristic does. */
function filterScanlines(data: Uint8Array | Uint8ClampedArray, width: number, height: number, bpp: number): Buffer {
  const stride = width * bpp;
  const out = Buffer.alloc((stride + 1) * height);
  const candidates = Array.from({ length: 5 }, () => new Uint8Array(stride));
  const sums = new Float64Array(5);
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    const prev = row - stride;
    sums.fill(0);
    for (let i = 0; i < stride; i++) {
      const x = data[row + i];
      const a = i >= bpp ? data[row + i - bpp] : 0;
      const b = y > 0 ? data[prev + i] : 0;
      const c = y > 0 && i >= bpp ? data[prev + i - bpp] : 0;
      const f0 = x;
      const f1 = (x - a) & 0xff;
      const f2 = (x - b) & 0xff;
      const f3 = (x - ((a + b) >> 1)) & 0xff;
      const f4 = (x - paeth(a, b, c)) & 0xff;
      candidates[0][i] = f0;
      candidates[1][i] = f1;
      candidates[2][i] = f2;
      candidates[3][i] = f3;
      candidates[4][i] = f4;
      sums[0] += f0 < 128 ? f0 : 256 - f0;
      sums[1] += f1 < 128 ? f1 : 256 - f1;
      sums[2] += f2 < 128 ? f2 : 256 - f2;
      sums[3] += f3 < 128 ? f3 : 256 - f3;
      sums[4] += f4 < 128 ? f4 : 256 - f4;
    }
    let best = 0;
    for (let f = 1; f < 5; f++) if (sums[f] < sums[best]) best = f;
    const at = y * (stride + 1);
    out[at] = best;
    out.set(candidates[best], at + 1);
  }
  return out;
}

function pixelChunks(image: RawImage): PngChunk[] {
  const { data, width, height, channels } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image size ${width}x${height} is invalid; width and height must be positive integers`);
  }
  if (data.length !== width * height * channels) {
    throw new RangeError(`pixel buffer holds ${data.length} bytes; ${width}x${height}x${channels} needs ${width * height * channels}`);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = COLOR_TYPE[channels];
  // compression 0 (zlib), filter method 0 (adaptive), interlace 0: already zero.
  const idat = deflateSync(filterScanlines(data, width, height, channels), { level: ZLIB_LEVEL });
  return [
    { type: 'IHDR', data: ihdr },
    { type: 'IDAT', data: idat },
    { type: 'IEND', data: Buffer.alloc(0) },
  ];
}

/** Encodes pixels to a PNG with no metadata at all (deterministic). */
export async function encodePixelsToPng(image: RawImage): Promise<Buffer> {
  return encodePngChunks(pixelChunks(image));
}

/**
 * Encodes pixels and stamps them with the recipe: iTXt `imgprompt`, tEXt `parameters`, XMP. This is what
 * the engine calls after the VAE decode; write the result with writeFileAtomic.
 */
export async function encodePngWithMetadata(image: RawImage, recipe: RecipeMetadataFields, extra: readonly PngTextEntry[] = []): Promise<Buffer> {
  return encodePngChunks(insertTextChunks(pixelChunks(image), [...buildMetadataEntries(recipe), ...extra]));
}
