// The tensor type the engine passes between the model layer and everything else: float32 data in
// row-major (C) order with its dimensions. Kept free of onnxruntime so only src/engine/model imports it.

export interface FloatTensor {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** Number of elements a tensor of these dimensions holds. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}

/** Builds a FloatTensor after checking that `data` has exactly the elements `dims` describes. */
export function floatTensor(data: Float32Array, dims: readonly number[]): FloatTensor {
  const expected = elementCount(dims);
  if (data.length !== expected) {
    throw new RangeError(`tensor data has ${data.length} elements but dims [${dims.join(', ')}] need ${expected}`);
  }
  return { data, dims: [...dims] };
}

export function formatDims(dims: readonly (number | string)[]): string {
  return `[${dims.join(', ')}]`;
}
