// IEEE 754 binary16 <-> binary32 conversion for float16 ONNX models (onnxruntime-node carries float16
// tensors as Uint16Array bit patterns). Rounding is round-to-nearest-even, as hardware and numpy do.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float16 bit pattern nearest to `value` (ties to even; overflow to ±Infinity; NaN stays NaN). */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 | (mantissa >>> 13) : 0);
  // Re-bias the exponent from 127 to 15.
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal (or zero) in float16: shift the full significand (with its implicit 1) into place.
    if (e < -10) return sign;
    const significand = mantissa | 0x800000;
    const shift = 14 - e;
    const half = significand >>> shift;
    const remainder = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    const roundUp = remainder > halfway || (remainder === halfway && (half & 1) === 1);
    return sign | (half + (roundUp ? 1 : 0));
  }
  const half = (e << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
  const roundUp = remainder > 0x1000 || (remainder === 0x1000 && (half & 1) === 1);
  return sign | (half + (roundUp ? 1 : 0));
}

/** The value of a float16 bit pattern (exact in float32/float64). */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** float16 bit pattern → float32 value for every pattern (256 KB, built once): widening is then one lookup per element. */
let halfTable: Float32Array | undefined;
export function float16Table(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) halfTable[bits] = fromFloat16Bits(bits);
  }
  return halfTable;
}

export function float32ToFloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toFloat16Bits(values[i]);
  return out;
}

export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const table = float16Table();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

/** Little-endian float16 values stored in `bytes` (any alignment), widened. */
export function float16BytesToFloat32(bytes: Uint8Array): Float32Array {
  const aligned = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice();
  return float16ToFloat32(new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength >> 1));
}

/** A row-major [rows, cols] matrix transposed to [cols, rows], in 64×64 blocks so reads and writes stay in cache. */
export function transposeMatrix(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r0 = 0; r0 < rows; r0 += 64) {
    const r1 = Math.min(rows, r0 + 64);
    for (let c0 = 0; c0 < cols; c0 += 64) {
      const c1 = Math.min(cols, c0 + 64);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = values[r * cols + c];
    }
  }
  return out;
}

/** The bfloat16 bit pattern nearest to the float32 with bits `u` (ties to even; NaN stays NaN). */
export function bfloat16Bits(u: number): number {
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * Rounds float32 bit patterns in place to the nearest float16 value (ties to even, overflow to ±Infinity,
 * float16 subnormals kept), as the widened float32. Returns how many changed.
 */
export function roundToFloat16(words: Uint32Array): number {
  let changed = 0;
  for (let i = 0; i < words.length; i++) {
    const x = words[i];
    const e = (x >>> 23) & 0xff;
    let r: number;
    if (e >= 113 && e <= 142) {
      // Normal in float16: keep 10 mantissa bits; a carry moves into the exponent (at most to 2^16).
      r = ((x + 0xfff + ((x >>> 13) & 1)) & 0xffffe000) >>> 0;
      if (((r >>> 23) & 0xff) > 142) r = ((x & 0x80000000) | 0x7f800000) >>> 0;
    } else {
      f32[0] = fromFloat16Bits(toFloat16Bits(u32ToFloat(x)));
      r = u32[0];
    }
    if (r !== x) {
      words[i] = r;
      changed++;
    }
  }
  return changed;
}

/** Rounds float32 bit patterns in place to the nearest bfloat16 value (ties to even; NaN stays NaN). Returns how many changed. */
export function roundToBfloat16(words: Uint32Array): number {
  let changed = 0;
  for (let i = 0; i < words.length; i++) {
    const x = words[i];
    // Inline form of bfloat16Bits (this loop runs over every weight of a model): NaN stays NaN.
    const nan = (x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0;
    const r = nan ? (((x >>> 16) | 0x40) << 16) >>> 0 : (((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) << 16) >>> 0;
    if (r !== x) {
      words[i] = r;
      changed++;
    }
  }
  return changed;
}

function u32ToFloat(bits: number): number {
  u32[0] = bits;
  return f32[0];
}

/** For each float16 bit pattern, its value rounded to bfloat16 precision as float16 bits; 0xffffffff where that is no float16 value. */
let bf16OfHalf: Uint32Array | undefined;
function bfloat16OfFloat16Table(): Uint32Array {
  if (!bf16OfHalf) {
    bf16OfHalf = new Uint32Array(65536);
    const word = new Uint32Array(1);
    const value = new Float32Array(word.buffer);
    for (let h = 0; h < 65536; h++) {
      value[0] = fromFloat16Bits(h);
      roundToBfloat16(word);
      const back = toFloat16Bits(value[0]);
      if (Number.isNaN(value[0])) bf16OfHalf[h] = h;
      else bf16OfHalf[h] = Object.is(fromFloat16Bits(back), value[0]) ? back : 0xffffffff;
    }
  }
  return bf16OfHalf;
}

/**
 * Rounds float16 values (little-endian bits in `bytes`) in place to bfloat16 precision, kept as float16;
 * leaves the tensor as it is when a value would round past float16's range. Returns how many changed.
 */
export function roundFloat16ToBfloat16(bytes: Uint8Array): number {
  const table = bfloat16OfFloat16Table();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = bytes.byteLength >> 1;
  for (let i = 0; i < count; i++) if (table[view.getUint16(i * 2, true)] === 0xffffffff) return 0;
  let changed = 0;
  for (let i = 0; i < count; i++) {
    const h = view.getUint16(i * 2, true);
    const r = table[h];
    if (r !== h) {
      view.setUint16(i * 2, r, true);
      changed++;
    }
  }
  return changed;
}
