// AUTOMATIC1111's "NV" noise source (modules/rng_philox.py): a CPU imitation of torch.randn on CUDA.
// Each element i of a draw takes Philox-4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy
// as 1, 2, 3") with counter (offset, 0, i, 0) and key = the 64-bit seed, and turns the first two output
// words into one normal by the sine half of Box-Muller, computed in double and rounded to float32.
// Every draw advances the offset by one, so sampler noise continues the stream as in the web UI.

import type { RNG } from './RNG';
import { normalizeSeed, shapeSize } from './TorchCPUGenerator';

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9;
const PHILOX_W1 = 0xbb67ae85;
const ROUNDS = 10;
// The web UI keeps these as float32 arrays; numpy then promotes the arithmetic to double.
const TWO_POW32_INV = Math.fround(2.3283064e-10);
const TWO_POW32_INV_2PI = Math.fround(2.3283064e-10 * 6.2831855);

/** High 32 bits of the 64-bit product of two unsigned 32-bit integers. */
function mulHi32(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const cross = ((aLo * bLo) >>> 16) + (aHi * bLo) % 0x10000 + aLo * bHi;
  return (aHi * bHi + Math.floor((aHi * bLo) / 0x10000) + Math.floor(cross / 0x10000)) >>> 0;
}

export class PhiloxGenerator implements RNG {
  readonly name = 'a1111-nv-philox4x32';
  readonly seed: bigint;
  private readonly key0: number;
  private readonly key1: number;
  private offset = 0;

  constructor(seed: bigint | number | string) {
    this.seed = normalizeSeed(seed);
    this.key0 = Number(this.seed & 0xffffffffn);
    this.key1 = Number(this.seed >> 32n);
  }

  randn(shape: readonly number[]): Float32Array {
    const size = shapeSize(shape);
    const out = new Float32Array(size);
    const offset = this.offset >>> 0;
    for (let i = 0; i < size; i++) {
      let c0 = offset;
      let c1 = 0;
      let c2 = i >>> 0;
      let c3 = 0;
      let k0 = this.key0;
      let k1 = this.key1;
      for (let round = 0; round < ROUNDS; round++) {
        const hi0 = mulHi32(c0, PHILOX_M0);
        const lo0 = Math.imul(c0, PHILOX_M0) >>> 0;
        const hi2 = mulHi32(c2, PHILOX_M1);
        const lo2 = Math.imul(c2, PHILOX_M1) >>> 0;
        c0 = (hi2 ^ c1 ^ k0) >>> 0;
        c1 = lo2;
        c2 = (hi0 ^ c3 ^ k1) >>> 0;
        c3 = lo0;
        k0 = (k0 + PHILOX_W0) >>> 0;
        k1 = (k1 + PHILOX_W1) >>> 0;
      }
      const u = c0 * TWO_POW32_INV + TWO_POW32_INV / 2;
      const v = c1 * TWO_POW32_INV_2PI + TWO_POW32_INV_2PI / 2;
      out[i] = Math.sqrt(-2 * Math.log(u)) * Math.sin(v);
    }
    this.offset++;
    return out;
  }
}
