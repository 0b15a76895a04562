// Exact IEEE-754 single-precision arithmetic in JavaScript. Add, subtract, multiply and square root
// computed in double and rounded once to float32 are correctly rounded (double has more than 2p+2
// bits), so Math.fround suffices for them; a fused multiply-add needs care, because rounding the
// double sum to float32 can round twice.

/** fmaf(a, b, c): a*b + c with a single rounding to float32, for float32 inputs. */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b; // exact: two 24-bit significands fit in 53 bits
  const s = p + c;
  const r = Math.fround(s);
  if (r === s) return r;
  // Rounding s again can only go wrong when s lies exactly halfway between two floats, r and m.
  const m = r + 2 * (s - r);
  if (Math.fround(m) !== m) return r;
  // Two-sum: the exact value is s + e; its sign says which side of the midpoint the true result lies.
  const bb = s - p;
  const e = p - (s - bb) + (c - bb);
  if (e === 0) return r;
  return e > 0 ? Math.max(r, m) : Math.min(r, m);
}
