// Loads a ControlNet hint image: resized to the render size first (loadImageRGB: sharp, Lanczos-3,
// 'cover' fit, transparency flattened onto white), then preprocessed into the hint the ControlNet sees.
import { InputError, throwIfAborted } from '../errors';
import { loadImageRGB } from '../image/loadImage';
import { canny, checkRGB } from './canny';
import { scribble } from './scribble';

export type HintType = 'canny' | 'scribble' | 'raw';

export const HINT_TYPES: readonly HintType[] = ['canny', 'scribble', 'raw'];

export interface Hint {
  /** width * height * 3 bytes, interleaved RGB. */
  readonly rgb: Uint8Array;
  readonly width: number;
  readonly height: number;
  /** The hint as [1, 3, height, width] float32 in 0..1 (byte / 255), the ControlNet's conditioning input. */
  readonly tensor: Float32Array;
}

/** A width x height mask as RGB (each byte repeated three times: white edges on black). */
export function maskToRGB(mask: Uint8Array, width: number, height: number): Uint8Array {
  if (mask.length !== width * height) throw new RangeError(`mask has ${mask.length} bytes; ${width}x${height} needs ${width * height}`);
  const out = new Uint8Array(mask.length * 3);
  for (let i = 0; i < mask.length; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = mask[i];
  return out;
}

/** Interleaved RGB bytes as a planar [1, 3, H, W] float32 tensor in 0..1. */
export function rgbToHintTensor(rgb: Uint8Array, width: number, height: number): Float32Array {
  checkRGB(rgb, width, height);
  const plane = width * height;
  const out = new Float32Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    out[i] = rgb[3 * i] / 255;
    out[plane + i] = rgb[3 * i + 1] / 255;
    out[2 * plane + i] = rgb[3 * i + 2] / 255;
  }
  return out;
}

/** Preprocesses already-sized RGB into the hint of `type`. */
export function preprocessHint(rgb: Uint8Array, type: HintType, width: number, height: number): Uint8Array {
  switch (type) {
    case 'canny':
      return maskToRGB(canny(rgb, width, height), width, height);
    case 'scribble':
      return maskToRGB(scribble(rgb, width, height), width, height);
    case 'raw':
      checkRGB(rgb, width, height);
      return rgb;
    default:
      throw new RangeError(`hint type must be 'canny', 'scribble' or 'raw', got '${String(type)}'`);
  }
}

/**
 * Loads the hint image at `path`, resizes it to width x height and preprocesses it. Throws InputError
 * naming the file when it is missing, unreadable or not an image, CancelledError when `signal` fires.
 */
export async function loadHint(path: string, type: HintType, width: number, height: number, signal?: AbortSignal): Promise<Hint> {
  if (!HINT_TYPES.includes(type)) throw new RangeError(`hint type must be 'canny', 'scribble' or 'raw', got '${String(type)}'`);
  throwIfAborted(signal);
  let image;
  try {
    image = await loadImageRGB(path, { width, height });
  } catch (error) {
    if (error instanceof InputError) throw new InputError(`cannot use it as a ${type} hint: ${error.message.startsWith(`${path}: `) ? error.message.slice(path.length + 2) : error.message}`, path);
    throw error;
  }
  throwIfAborted(signal);
  const rgb = preprocessHint(image.data, type, width, height);
  return { rgb, width, height, tensor: rgbToHintTensor(rgb, width, height) };
}
