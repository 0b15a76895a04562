// Loads an image file (an init image, a hint image) with sharp into 8-bit RGB or a [1, 3, H, W] tensor
// in [-1, 1] at a requested size. EXIF orientation is applied, transparency is flattened onto white (how
// a sketch on a transparent background reads), and the colour space is converted to sRGB.
//
// Resize modes (sharp's fit, Lanczos-3):
// - 'cover' (default): scale to cover the target, crop the overflow around the centre (A1111's
//   "crop and resize"); aspect is kept, nothing is distorted.
// - 'fill': stretch to the target (A1111's "just resize", diffusers' default image processor).
// - 'contain': scale to fit inside, pad the rest with black (no part of the image is lost).
import { stat } from 'node:fs/promises';
import sharp from 'sharp';
import { READ_CAPS, readFileBounded } from '../io/readBounded';
import { InputError } from '../errors';
import type { FloatTensor } from '../onnx/tensor';
import { rgbToImageTensor, type RGBImage } from './rgbImage';

export type ResizeFit = 'cover' | 'fill' | 'contain';

export interface LoadImageOptions {
  readonly width: number;
  readonly height: number;
  /** Default 'cover'. */
  readonly fit?: ResizeFit;
}

const SUPPORTED = 'PNG, JPEG, WebP, GIF, TIFF, AVIF, HEIF or SVG';

/** The image at `path` as 8-bit RGB of exactly width x height pixels. */
export async function loadImageRGB(path: string, options: LoadImageOptions): Promise<RGBImage> {
  const { width, height } = options;
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > 16384) throw new RangeError(`image ${name} must be an integer from 1 to 16384, got ${value}`);
  }
  const fit = options.fit ?? 'cover';
  if (!['cover', 'fill', 'contain'].includes(fit)) throw new RangeError(`resize fit must be 'cover', 'fill' or 'contain', got '${fit}'`);
  let bytes: Buffer;
  try {
    const s = await stat(path);
    if (s.isDirectory()) throw new InputError('expected an image file, found a folder', path);
    if (s.size === 0 && s.isFile()) throw new InputError('the image file is empty (0 bytes)', path);
    // A regular file under the image cap, read once: never a device, a FIFO or an unbounded read.
    bytes = await readFileBounded(path, READ_CAPS.image, 'image');
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError((error as NodeJS.ErrnoException).code === 'ENOENT' ? 'image file not found' : `cannot read the image: ${(error as Error).message}`, path);
  }
  try {
    const { data, info } = await sharp(bytes)
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(width, height, { fit, position: 'centre', background: '#000000', kernel: 'lanczos3' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.width !== width || info.height !== height || info.channels !== 3) {
      throw new InputError(`decoded to ${info.width}x${info.height} with ${info.channels} channels, expected ${width}x${height} RGB`, path);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height };
  } catch (error) {
    if (error instanceof InputError) throw error;
    const detail = (error as Error).message.split('\n')[0];
    let what: string;
    if (/unsupported image format/i.test(detail)) what = `not an image format we can read (supported: ${SUPPORTED})`;
    else if (/corrupt header|premature end|truncated|Bogus|read error|not a PNG|invalid/i.test(detail)) what = 'the image is truncated or corrupt';
    else what = 'the image could not be decoded';
    const e = new InputError(`${what}; detail: ${detail}`, path);
    e.cause = error;
    throw e;
  }
}

/** The image at `path` as a [1, 3, height, width] tensor in [-1, 1] (the VAE encoder's input range). */
export async function loadImageTensor(path: string, options: LoadImageOptions): Promise<FloatTensor> {
  return rgbToImageTensor(await loadImageRGB(path, options));
}
