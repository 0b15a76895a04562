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

  async take(length: number, g: { released(values: ArrayBufferView): Promise<void> }): Promise<Float32Array> {
    this.turn ^= 1;
    await g.released(this.buffers[this.turn]);
    if (this.buffers[this.turn].length < length) this.buffers[this.turn] = new Float32Array(length);
    return this.buffers[this.turn].subarray(0, length);
  }
}
