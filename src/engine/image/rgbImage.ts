// An 8-bit RGB raster (row-major, interleaved R,G,B) and its conversion to and from the [-1, 1]
// [1, 3, H, W] float tensors the VAE works in. Rounding follows diffusers' numpy_to_pil / pt_to_numpy
// (`(x / 2 + 0.5).clamp(0, 1)`, then `* 255` and numpy's round-half-to-even), computed in float32 like
// PyTorch, so our bytes equal diffusers' for the same decoder output.
import type { FloatTensor } from '../onnx/tensor';

export interface RGBImage {
  /** width * height * 3 bytes, row-major, R G B per pixel. */
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

const fround = Math.fround;

/** Rounds half to even, as numpy.round does. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** One VAE output value in about [-1, 1] to a byte. NaN becomes 0. */
export function unitToByte(x: number): number {
  const v = fround(fround(x / 2) + 0.5);
  if (!(v > 0)) return 0;
  if (v >= 1) return 255;
  return roundHalfEven(fround(v * 255));
}

/** One byte to the VAE's [-1, 1] input range: 2 * (v / 255) - 1 in float32 (diffusers' normalize). */
export function byteToUnit(v: number): number {
  return fround(fround(2 * fround(v / 255)) - 1);
}

/** Item `batchIndex` of a [batch, 3, H, W] tensor in [-1, 1] as 8-bit RGB (rounded, clamped; deterministic). */
export function imageTensorToRGB(tensor: FloatTensor, batchIndex = 0): RGBImage {
  const [batch, channels, height, width] = tensor.dims;
  if (tensor.dims.length !== 4 || channels !== 3) {
    throw new RangeError(`expected an image tensor [batch, 3, height, width], got [${tensor.dims.join(', ')}]`);
  }
  if (!Number.isInteger(batchIndex) || batchIndex < 0 || batchIndex >= batch) {
    throw new RangeError(`batch index ${batchIndex} is outside 0..${batch - 1}`);
  }
  const plane = width * height;
  const base = batchIndex * 3 * plane;
  const data = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    data[i * 3] = unitToByte(tensor.data[base + i]);
    data[i * 3 + 1] = unitToByte(tensor.data[base + plane + i]);
    data[i * 3 + 2] = unitToByte(tensor.data[base + 2 * plane + i]);
  }
  return { data, width, height };
}

/** 8-bit RGB to a [1, 3, H, W] tensor in [-1, 1]. */
export function rgbToImageTensor(image: RGBImage): FloatTensor {
  const plane = image.width * image.height;
  if (image.data.length !== plane * 3) {
    throw new RangeError(`RGB data has ${image.data.length} bytes; ${image.width}x${image.height} needs ${plane * 3}`);
  }
  const data = new Float32Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    data[i] = byteToUnit(image.data[i * 3]);
    data[plane + i] = byteToUnit(image.data[i * 3 + 1]);
    data[2 * plane + i] = byteToUnit(image.data[i * 3 + 2]);
  }
  return { data, dims: [1, 3, image.height, image.width] };
}
