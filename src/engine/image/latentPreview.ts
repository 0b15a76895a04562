// A cheap step preview: latents mapped linearly to RGB at latent resolution, no VAE run.
// rgb = latents · factors + bias, then (rgb + 1) / 2 clamped to [0, 1] and scaled to bytes, the way
// ComfyUI's Latent2RGB previewer maps it. The SD 1.x factors are the approximate ones ComfyUI publishes
// (comfy/latent_formats.py, class SD15) for latents in the UNet's scaled space; they are a least-squares
// fit, good for "what is emerging", not for colour accuracy. Other models (our tiny one) fit their own
// with fitLatentRGBFactors from one decoded sample.
import type { FloatTensor } from '../onnx/tensor';

export interface LatentRGBFactors {
  /** factors[channel] = [r, g, b] contribution of that latent channel. */
  readonly factors: readonly (readonly [number, number, number])[];
  readonly bias: readonly [number, number, number];
}

/** SD 1.x / 2.x latents (4 channels, scaled by 0.18215). Approximate. */
export const SD15_LATENT_RGB_FACTORS: LatentRGBFactors = {
  factors: [
    [0.3512, 0.2297, 0.3227],
    [0.325, 0.4974, 0.235],
    [-0.2829, 0.1762, 0.2721],
    [-0.212, -0.2616, -0.7177],
  ],
  bias: [0, 0, 0],
};

/** SDXL latents (4 channels, scaled by 0.13025): ComfyUI's published factors and bias (latent_formats.py, class SDXL). Approximate. */
export const SDXL_LATENT_RGB_FACTORS: LatentRGBFactors = {
  factors: [
    [0.3651, 0.4232, 0.4341],
    [-0.2533, -0.0042, 0.1068],
    [0.1076, 0.1111, -0.0362],
    [-0.3165, -0.2492, -0.2188],
  ],
  bias: [0.1084, -0.0175, -0.0011],
};

/**
 * RGB bytes (width * height * 3, row-major) for the first batch item of latents laid out
 * [batch, channels, height, width] (only the first channels * height * width values are read).
 */
export function latentToPreviewRGB(
  latents: Float32Array,
  width: number,
  height: number,
  factors: LatentRGBFactors = SD15_LATENT_RGB_FACTORS,
): Uint8Array {
  const channels = factors.factors.length;
  const plane = width * height;
  if (latents.length < channels * plane) {
    throw new RangeError(`latents hold ${latents.length} values; ${channels} channels of ${width}x${height} need ${channels * plane}`);
  }
  const out = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let k = 0; k < 3; k++) {
      let v = factors.bias[k];
      for (let c = 0; c < channels; c++) v += latents[c * plane + i] * factors.factors[c][k];
      const unit = (v + 1) / 2;
      out[i * 3 + k] = unit > 0 ? (unit >= 1 ? 255 : Math.round(unit * 255)) : 0;
    }
  }
  return out;
}

/**
 * Least-squares factors and bias mapping latents [1, C, h, w] to a decoded image [1, 3, H, W] in [-1, 1]
 * (H, W multiples of h, w), each latent pixel matched to the average of the image block it decodes to.
 * One decoded sample of a model is enough for a usable preview.
 */
export function fitLatentRGBFactors(latents: FloatTensor, decoded: FloatTensor): LatentRGBFactors {
  const [, channels, h, w] = latents.dims;
  const [, three, height, width] = decoded.dims;
  if (latents.dims.length !== 4 || decoded.dims.length !== 4 || three !== 3 || height % h !== 0 || width % w !== 0) {
    throw new RangeError(`cannot fit latents [${latents.dims.join(', ')}] to an image [${decoded.dims.join(', ')}]`);
  }
  const sy = height / h;
  const sx = width / w;
  const n = channels + 1; // + bias
  // Normal equations A^T A x = A^T b, one right-hand side per colour channel.
  const ata = Array.from({ length: n }, () => new Float64Array(n));
  const atb = Array.from({ length: 3 }, () => new Float64Array(n));
  const row = new Float64Array(n);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < channels; c++) row[c] = latents.data[(c * h + y) * w + x];
      row[channels] = 1;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) ata[i][j] += row[i] * row[j];
      for (let k = 0; k < 3; k++) {
        let sum = 0;
        for (let dy = 0; dy < sy; dy++) for (let dx = 0; dx < sx; dx++) sum += decoded.data[(k * height + y * sy + dy) * width + x * sx + dx];
        const target = sum / (sy * sx);
        for (let i = 0; i < n; i++) atb[k][i] += row[i] * target;
      }
    }
  }
  const solutions = atb.map((b) => solveSymmetric(ata, b));
  return {
    factors: Array.from({ length: channels }, (_, c) => [solutions[0][c], solutions[1][c], solutions[2][c]] as [number, number, number]),
    bias: [solutions[0][channels], solutions[1][channels], solutions[2][channels]],
  };
}

/** Solves A x = b by Gaussian elimination with partial pivoting, with a tiny ridge for rank deficiency. */
function solveSymmetric(a: readonly Float64Array[], b: Float64Array): number[] {
  const n = b.length;
  const m = a.map((r, i) => [...r.map((v, j) => v + (i === j ? 1e-9 : 0)), b[i]]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
    [m[col], m[pivot]] = [m[pivot], m[col]];
    for (let r = col + 1; r < n; r++) {
      const f = m[r][col] / m[col][col];
      for (let k = col; k <= n; k++) m[r][k] -= f * m[col][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r][n];
    for (let k = r + 1; k < n; k++) s -= m[r][k] * x[k];
    x[r] = s / m[r][r];
  }
  return x;
}
