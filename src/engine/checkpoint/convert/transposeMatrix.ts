// Row-major matrix transposes for the converters' linear weights (torch's [out, in] to MatMul's
// [in, out]), the hot loop of converting a checkpoint after reading it. Both walk the matrix in 32×32
// tiles, so the strided side stays in cache (measured ~1.4× a plain double loop on SD 1.5's 1280×5120
// matrices), and write into a caller-given array so one scratch buffer serves every layer (a fresh
// 26 MB array per layer costs more in page faults and zeroing than the transpose itself).
import { float16Table } from '../../onnx/float16';

const TILE = 32;

/** `values` [rows, cols] transposed into `out` [cols, rows] (`out` must not overlap `values`). */
export function transposeInto(values: Float32Array, rows: number, cols: number, out: Float32Array): Float32Array {
  checkSizes(values.length, rows, cols, out.length);
  for (let c0 = 0; c0 < cols; c0 += TILE) {
    const c1 = Math.min(cols, c0 + TILE);
    for (let r0 = 0; r0 < rows; r0 += TILE) {
      const r1 = Math.min(rows, r0 + TILE);
      for (let c = c0; c < c1; c++) {
        const o = c * rows;
        for (let r = r0; r < r1; r++) out[o + r] = values[r * cols + c];
      }
    }
  }
  return out;
}

/**
 * float16 bits [rows, cols] widened to float32 and transposed into `out` [cols, rows] in one pass
 * (the values are exactly those of widening first, then transposing).
 */
export function transposeFloat16Into(bits: Uint16Array, rows: number, cols: number, out: Float32Array): Float32Array {
  checkSizes(bits.length, rows, cols, out.length);
  const table = float16Table();
  for (let c0 = 0; c0 < cols; c0 += TILE) {
    const c1 = Math.min(cols, c0 + TILE);
    for (let r0 = 0; r0 < rows; r0 += TILE) {
      const r1 = Math.min(rows, r0 + TILE);
      for (let c = c0; c < c1; c++) {
        const o = c * rows;
        for (let r = r0; r < r1; r++) out[o + r] = table[bits[r * cols + c]];
      }
    }
  }
  return out;
}

/**
 * float16 bits [rows, cols] transposed into `out` [cols, rows], kept float16: a float16 checkpoint's
 * linear weights stay float16 behind a Cast (half the bytes to write, and no widening on the hot path;
 * onnxruntime widens them exactly when it folds the Cast). Even shapes (every real layer's) move 2×2
 * blocks as 32-bit words, half the loads and stores (measured ~1.8× the element loop).
 */
export function transposeUint16Into(bits: Uint16Array, rows: number, cols: number, out: Uint16Array): Uint16Array {
  checkSizes(bits.length, rows, cols, out.length);
  if (rows % 2 === 0 && cols % 2 === 0 && bits.byteOffset % 4 === 0 && out.byteOffset % 4 === 0) {
    transposePairs(new Uint32Array(bits.buffer, bits.byteOffset, bits.length / 2), rows, cols, new Uint32Array(out.buffer, out.byteOffset, out.length / 2));
    return out;
  }
  for (let c0 = 0; c0 < cols; c0 += TILE) {
    const c1 = Math.min(cols, c0 + TILE);
    for (let r0 = 0; r0 < rows; r0 += TILE) {
      const r1 = Math.min(rows, r0 + TILE);
      for (let c = c0; c < c1; c++) {
        const o = c * rows;
        for (let r = r0; r < r1; r++) out[o + r] = bits[r * cols + c];
      }
    }
  }
  return out;
}

/**
 * The even-shaped case: `words` holds [rows, cols/2] pairs of float16 (little-endian: element 2k in the
 * low half). Rows r and r+1 of column pair k give out rows 2k (their low halves) and 2k+1 (high halves).
 */
function transposePairs(words: Uint32Array, rows: number, cols: number, out: Uint32Array): void {
  const pairCols = cols / 2;
  const outPairs = rows / 2;
  for (let k0 = 0; k0 < pairCols; k0 += TILE) {
    const k1 = Math.min(pairCols, k0 + TILE);
    for (let r0 = 0; r0 < rows; r0 += 2 * TILE) {
      const r1 = Math.min(rows, r0 + 2 * TILE);
      for (let k = k0; k < k1; k++) {
        const low = 2 * k * outPairs;
        const high = low + outPairs;
        for (let r = r0; r < r1; r += 2) {
          const a = words[r * pairCols + k];
          const b = words[(r + 1) * pairCols + k];
          out[low + (r >> 1)] = (a & 0xffff) | ((b & 0xffff) << 16);
          out[high + (r >> 1)] = (a >>> 16) | (b & 0xffff0000);
        }
      }
    }
  }
}

/** A fresh transposed copy (for the few matrices read once outside the layer loop). */
export function transposed(values: Float32Array, rows: number, cols: number): Float32Array {
  return transposeInto(values, rows, cols, new Float32Array(values.length));
}

function checkSizes(count: number, rows: number, cols: number, outLength: number): void {
  if (count !== rows * cols || outLength !== count) throw new RangeError(`transpose: ${count} values as [${rows}, ${cols}] into ${outLength}`);
}

/**
 * Two growable Float32Arrays reused in turn between layers: `take(n, g)` is a view of the first n
 * elements of one (contents undefined), once the graph's external-data writer has written it out from
 * its use before last (GraphBuilder.weight copies inline data at once, and a write-behind writer writes
 * one buffer while the caller fills the other). A caller hands the view to g.weight before taking again.
 */
export class ScratchFloats {
  private readonly buffers = [new Float32Array(0), new Float32Array(0)];
  private turn = 0;
  private input = new Uint16Array(0);

  /**
   * A buffer for reading one float16 matrix into before it is transposed into a taken buffer (its bits
   * are consumed at once, so one serves every layer); at least `length` long.
   */
  readBuffer(length: number): Uint16Array {
    if (this.input.length < length) this.input = new Uint16Array(length);
    return this.input;
  }

  async take(length: number, g: { released(values: ArrayBufferView): Promise<void> }): Promise<Float32Array> {
    this.turn ^= 1;
    await g.released(this.buffers[this.turn]);
    if (this.buffers[this.turn].length < length) this.buffers[this.turn] = new Float32Array(length);
    return this.buffers[this.turn].subarray(0, length);
  }

  /** As take, for `length` float16 values (a view of the same buffers). */
  async takeHalves(length: number, g: { released(values: ArrayBufferView): Promise<void> }): Promise<Uint16Array> {
    const floats = await this.take(Math.ceil(length / 2), g);
    return new Uint16Array(floats.buffer, floats.byteOffset, length);
  }
}
