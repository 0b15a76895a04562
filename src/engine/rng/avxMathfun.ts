// One lane of the float32 log and sincos that PyTorch's AVX2 `normal_fill` uses on x86-64
// (ATen/native/cpu/avx_mathfun.h: Cephes polynomials after Julien Pommier's sse_mathfun), emulated
// operation by operation in float32. These are not libm's logf/sinf/cosf: their last bits differ.
// PyTorch compiles that header with FMA enabled and GCC's default floating-point contraction, so a
// multiply whose only use is an add or subtract becomes one fused multiply-add; the `fmaf` calls
// below mark exactly the contractions that reproduce torch's bits (checked against the fixtures).

import { fmaf } from './float32';

const fr = Math.fround;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0];
}
function fromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

const MIN_NORM_POS = fromBits(0x00800000);
const HALF_BITS = bitsOf(0.5);
const SQRTHF = fr(0.707106781186547524);
const LOG_P = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(fr);
const LOG_Q1 = fr(-2.12194440e-4);
const LOG_Q2 = fr(0.693359375);

/** Natural logarithm of a positive float32, as torch's `log256_ps` computes it (NaN for x <= 0). */
export function logAVX2(input: number): number {
  if (!(input > 0)) return NaN;
  const clamped = Math.max(input, MIN_NORM_POS);
  const bits = bitsOf(clamped);
  // Split into exponent e and a mantissa m in [0.5, 1).
  let e = fr((bits >>> 23) - 0x7f);
  e = fr(e + 1);
  const m = fromBits((bits & ~0x7f800000) | HALF_BITS);
  // Move m to [sqrt(1/2) - 1, sqrt(2) - 1) around zero, adjusting the exponent.
  const below = m < SQRTHF;
  let x = fr(m - 1);
  e = fr(e - (below ? 1 : 0));
  x = fr(x + (below ? m : 0));

  const z = fr(x * x);
  let y = LOG_P[0];
  for (let k = 1; k < LOG_P.length; k++) y = fmaf(y, x, LOG_P[k]);
  y = fr(y * x);
  y = fmaf(y, z, fr(e * LOG_Q1));
  y = fr(y - fr(z * 0.5));
  x = fr(x + y);
  return fmaf(e, LOG_Q2, x);
}

const FOPI = fr(1.27323954473516); // 4 / pi
const MINUS_DP1 = fr(-0.78515625);
const MINUS_DP2 = fr(-2.4187564849853515625e-4);
const MINUS_DP3 = fr(-3.77489497744594108e-8);
const SIN_P0 = fr(-1.9515295891e-4);
const SIN_P1 = fr(8.3321608736e-3);
const SIN_P2 = fr(-1.6666654611e-1);
const COS_P0 = fr(2.443315711809948e-5);
const COS_P1 = fr(-1.388731625493765e-3);
const COS_P2 = fr(4.166664568298827e-2);

/** Sine and cosine of a float32, as torch's `sincos256_ps` computes them (accurate for |x| < 8192). */
export function sincosAVX2(input: number): { sin: number; cos: number } {
  const negative = input < 0 || Object.is(input, -0);
  let x = Math.abs(input);
  // Octant j (rounded up to even) and the polynomial each function needs there.
  let j = Math.trunc(fr(x * FOPI)) | 0;
  j = (j + 1) & ~1;
  const q = fr(j);
  const flipSin = negative !== ((j & 4) !== 0);
  const flipCos = (~(j - 2) & 4) !== 0;
  const sinUsesSinPoly = (j & 2) === 0;
  // Cody-Waite reduction x - q*pi/4 in three parts.
  x = fmaf(q, MINUS_DP1, x);
  x = fmaf(q, MINUS_DP2, x);
  x = fmaf(q, MINUS_DP3, x);

  const z = fr(x * x);
  let c = fmaf(COS_P0, z, COS_P1);
  c = fmaf(c, z, COS_P2);
  c = fr(c * z);
  c = fmaf(c, z, -fr(z * 0.5));
  c = fr(c + 1);

  let s = fmaf(SIN_P0, z, SIN_P1);
  s = fmaf(s, z, SIN_P2);
  s = fr(s * z);
  s = fmaf(s, x, x);

  const sinValue = sinUsesSinPoly ? s : c;
  const cosValue = sinUsesSinPoly ? c : s;
  return { sin: flipSin ? -sinValue : sinValue, cos: flipCos ? -cosValue : cosValue };
}
