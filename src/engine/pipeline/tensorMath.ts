// Small element-wise helpers for the denoising loop (float32 storage, float64 arithmetic per element).
import { floatTensor, type FloatTensor } from '../onnx/tensor';

/** Stacks same-shaped [1, ...] tensors along the batch axis. */
export function concatBatch(tensors: readonly FloatTensor[]): FloatTensor {
  const [first] = tensors;
  const size = first.data.length;
  const data = new Float32Array(size * tensors.length);
  tensors.forEach((t, i) => {
    if (t.data.length !== size) throw new RangeError('concatBatch: tensors differ in size');
    data.set(t.data, i * size);
  });
  return floatTensor(data, [tensors.length * first.dims[0], ...first.dims.slice(1)]);
}

/** Stacks [1, C_i, h, w] tensors along the channel axis (torch.cat(dim=1) of one batch item). */
export function concatChannels(tensors: readonly FloatTensor[]): FloatTensor {
  const [, , h, w] = tensors[0].dims;
  const channels = tensors.reduce((n, t) => {
    if (t.dims.length !== 4 || t.dims[0] !== 1 || t.dims[2] !== h || t.dims[3] !== w) throw new RangeError('concatChannels: tensors differ in batch or size');
    return n + t.dims[1];
  }, 0);
  const data = new Float32Array(channels * h * w);
  let at = 0;
  for (const t of tensors) {
    data.set(t.data, at);
    at += t.data.length;
  }
  return floatTensor(data, [1, channels, h, w]);
}

/** The batch item `index` of a tensor, as a [1, ...] tensor (a view, not a copy). */
export function batchItem(tensor: FloatTensor, index: number): FloatTensor {
  const size = tensor.data.length / tensor.dims[0];
  return { data: tensor.data.subarray(index * size, (index + 1) * size), dims: [1, ...tensor.dims.slice(1)] };
}

/**
 * Classifier-free guidance: uncond + scale · (cond − uncond), each operation rounded to float32 as
 * PyTorch does on float32 tensors (a Python float scalar is cast to the tensor's dtype first).
 */
export function guide(uncond: Float32Array, cond: Float32Array, scale: number): Float32Array {
  const s = Math.fround(scale);
  const out = new Float32Array(cond.length);
  for (let i = 0; i < out.length; i++) out[i] = uncond[i] + Math.fround(s * Math.fround(cond[i] - uncond[i]));
  return out;
}

/**
 * Multiplies every element by `factor` (rounded to float32 first) into a new array. The product of two
 * float32 values is exact in float64, so storing it rounds once: the same result as a float32 multiply.
 */
export function scaled(values: Float32Array, factor: number): Float32Array {
  const f = Math.fround(factor);
  const out = new Float32Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = values[i] * f;
  return out;
}

/** Divides every element by `divisor` (rounded to float32 first), as a float32 division. */
export function divided(values: Float32Array, divisor: number): Float32Array {
  const d = Math.fround(divisor);
  const out = new Float32Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = values[i] / d;
  return out;
}

/** True when every element is finite (NaN or ±Infinity would make a black or garbage figure). */
export function allFinite(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}
