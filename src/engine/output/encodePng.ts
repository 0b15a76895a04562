// Encodes rendered pixels as a PNG carrying the recipe's provenance. sharp (libvips + libpng) compresses
// the pixels with fixed settings; its own ancillary chunks are dropped and ours inserted before the first
// IDAT, so the same pixels and recipe always give the same bytes on the same machine.
import sharp from 'sharp';
import { buildMetadataEntries } from './metadataEntries';
import { encodePngChunks, parsePngChunks } from './pngChunks';
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

/** Fixed so output bytes never depend on sharp's defaults changing between versions. */
const PNG_SETTINGS = { compressionLevel: 6, adaptiveFiltering: true, palette: false, progressive: false, force: true } as const;

/** Chunks that define the pixels; every other chunk sharp writes (pHYs and the like) is dropped. */
const PIXEL_CHUNKS = new Set(['IHDR', 'PLTE', 'tRNS', 'IDAT', 'IEND']);

/** Encodes pixels to a PNG with no metadata at all (deterministic). */
export async function encodePixelsToPng(image: RawImage): Promise<Buffer> {
  const { data, width, height, channels } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image size ${width}x${height} is invalid; width and height must be positive integers`);
  }
  if (data.length !== width * height * channels) {
    throw new RangeError(`pixel buffer holds ${data.length} bytes; ${width}x${height}x${channels} needs ${width * height * channels}`);
  }
  const input = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const png = await sharp(input, { raw: { width, height, channels } }).png(PNG_SETTINGS).toBuffer();
  return encodePngChunks(parsePngChunks(png, { file: '<sharp output>' }).filter((c) => PIXEL_CHUNKS.has(c.type)));
}

/**
 * Encodes pixels and stamps them with the recipe: iTXt `imgprompt`, tEXt `parameters`, XMP. This is what
 * the engine calls after the VAE decode; write the result with writeFileAtomic.
 */
export async function encodePngWithMetadata(image: RawImage, recipe: RecipeMetadataFields, extra: readonly PngTextEntry[] = []): Promise<Buffer> {
  const png = await encodePixelsToPng(image);
  const chunks = parsePngChunks(png, { file: '<encoded png>', verifyCrc: false });
  return encodePngChunks(insertTextChunks(chunks, [...buildMetadataEntries(recipe), ...extra]));
}
