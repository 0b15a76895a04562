// The 32-bit Mersenne Twister (Matsumoto & Nishimura 1998) as PyTorch's CPU generator uses it
// (ATen/core/MT19937RNGEngine.h): standard MT19937 output, seeded from the low 32 bits of a 64-bit
// seed with the reference initialisation (multiplier 1812433253).

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

export class MT19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  /** Seeds with the low 32 bits of `seed` (PyTorch ignores the high 32 bits of its 64-bit seed). */
  constructor(seed: bigint) {
    const state = this.state;
    state[0] = Number(BigInt.asUintN(32, seed));
    for (let i = 1; i < N; i++) {
      const prev = state[i - 1] ^ (state[i - 1] >>> 30);
      // Math.imul keeps the 32-bit wrap-around product exact, which a float multiply would not.
      state[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  /** The next 32-bit output as an unsigned integer. */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const s = this.state;
    for (let i = 0; i < N; i++) {
      const y = (s[i] & UPPER_MASK) | (s[(i + 1) % N] & LOWER_MASK);
      s[i] = s[(i + M) % N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    this.index = 0;
  }
}
