// Images that come back from a render server, decoded with sharp into our 8-bit RGB, with caps on what
// a hostile answer can make us allocate.
import sharp from 'sharp';
import type { RGBImage } from '../image/rgbImage';
import { BackendRequestError } from './http';

/** The largest image accepted from a server (a 16384² render). */
const MAX_PIXELS = 16384 * 16384;

/** PNG/JPEG/WebP bytes → RGB (alpha flattened onto white). `expect` checks the size the recipe asked for. */
export async function decodeServerImage(bytes: Buffer, what: string, expect?: { width: number; height: number }): Promise<RGBImage> {
  let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    decoded = await sharp(bytes, { limitInputPixels: MAX_PIXELS }).flatten({ background: '#ffffff' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new BackendRequestError(`${what}: the image the server returned is unreadable (${(error as Error).message})`);
  }
  const { width, height, channels } = decoded.info;
  if (channels !== 3) throw new BackendRequestError(`${what}: expected an RGB image, got ${channels} channels`);
  if (expect && (width !== expect.width || height !== expect.height)) {
    throw new BackendRequestError(`${what}: the server returned ${width}x${height}, the recipe asks for ${expect.width}x${expect.height}`);
  }
  return { data: new Uint8Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.length), width, height };
}
