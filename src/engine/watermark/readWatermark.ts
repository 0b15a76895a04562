// Detects the watermark in an image file of any format sharp reads (PNG, JPEG, WebP, ...), with or
// without metadata, and compares it with the recipe hash the file's metadata records, if any.
import sharp from 'sharp';
import { InputError } from '../errors';
import { READ_CAPS, readFileBounded } from '../io/readBounded';
import type { RGBImage } from '../image/rgbImage';
import { detectWatermark, type WatermarkDetection } from './detectWatermark';
import { payloadOfHash } from './watermarkCode';

/** Larger images are halved (repeatedly) before detection: the code survives a halving, and time stays bounded. */
const MAX_DETECT_PIXELS = 4096 * 4096;

/** What a file's pixels say, next to what its metadata claims. */
export interface WatermarkReport extends WatermarkDetection {
  /** When the metadata records a recipe hash: whether the detected payload is its first 32 bits. */
  readonly matchesRecipe?: boolean;
}

/** Decodes image bytes to 8-bit sRGB (orientation applied, transparency flattened onto white). */
export async function decodeImageRGB(bytes: Uint8Array, file: string): Promise<RGBImage> {
  try {
    const meta = await sharp(bytes).metadata();
    const pixels = (meta.width ?? 0) * (meta.height ?? 0);
    let pipeline = sharp(bytes, { limitInputPixels: 16384 * 16384 }).rotate().flatten({ background: '#ffffff' }).toColourspace('srgb');
    if (pixels > MAX_DETECT_PIXELS) {
      const factor = 2 ** Math.ceil(Math.log2(Math.sqrt(pixels / MAX_DETECT_PIXELS)));
      pipeline = pipeline.resize(Math.round(meta.width! / factor), Math.round(meta.height! / factor), { kernel: 'lanczos3' });
    }
    const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (error) {
    const e = new InputError(`not an image that can be decoded: ${(error as Error).message.split('\n')[0]}`, file);
    e.cause = error;
    throw e;
  }
}

/** The watermark in `bytes`; `recipeHash` (from the metadata, if any) is what the payload is checked against. */
export async function readWatermark(bytes: Uint8Array, file: string, recipeHash?: string): Promise<WatermarkReport> {
  const detection = detectWatermark(await decodeImageRGB(bytes, file));
  if (!recipeHash || !detection.detected) return detection;
  let expected: string | undefined;
  try {
    expected = payloadOfHash(recipeHash);
  } catch {
    expected = undefined;
  }
  return { ...detection, matchesRecipe: expected !== undefined && expected === detection.payload };
}

/** Reads a file (a regular file under the image cap) and detects its watermark. */
export async function readWatermarkFile(path: string, recipeHash?: string): Promise<WatermarkReport> {
  let bytes: Buffer;
  try {
    bytes = await readFileBounded(path, READ_CAPS.image, 'image');
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`cannot read the image: ${(error as Error).message}`, path);
  }
  return readWatermark(bytes, path, recipeHash);
}
