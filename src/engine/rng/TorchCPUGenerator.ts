// PyTorch's CPU generator, reproduced bit for bit: `torch.randn(shape, generator=torch.Generator()
// .manual_seed(seed))` in float32 as x86-64 builds with AVX2 compute it (the usual PC running ComfyUI,
// diffusers or A1111 with a CPU generator; on ARM torch itself takes a libm path with other last bits).
// Follows ATen's CPUGeneratorImpl, core/DistributionsHelper.h and native/cpu/DistributionTemplates.h:
// - a contiguous float tensor of >= 16 elements is filled with 24-bit uniforms first, then turned into
//   normals by Box-Muller over blocks of 16 (pairs j, j+8) in float32 with avx_mathfun's log/sincos;
//   a ragged tail redraws 16 fresh uniforms and recomputes the last 16 values;
// - a smaller tensor draws each value from a double-precision Box-Muller on 53-bit uniforms, caching
//   the sine half in the generator for the next scalar draw (the cache survives across calls and is
//   untouched by the vectorised path).
// Verified against torch 1.13.1 (Debian, GCC 12) by test/fixtures/reference/rng, written by
// tools/reference/make_rng_fixtures.py.

import { InputError } from '../errors';
import type { RNG } from './RNG';
import { MT19937 } from './MT19937';
import { logAVX2, sincosAVX2 } from './avxMathfun';

const TWO_POW_M24 = 2 ** -24;
const TWO_POW_M53 = 2 ** -53;
const TWO_POW_32 = 2 ** 32;
const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
/** float(2.0f * pi<double>), the constant torch broadcasts into its AVX2 kernel. */
const TWO_PI_F32 = Math.fround(2 * Math.PI);
const VECTOR_BLOCK = 16;

/**
 * Normalises a seed the way `torch.Generator.manual_seed` accepts it: an integer in
 * [-2^63, 2^64 - 1], negative values wrapping to their unsigned 64-bit pattern.
 */
export function normalizeSeed(seed: bigint | number | string): bigint {
  let value: bigint;
  if (typeof seed === 'bigint') {
    value = seed;
  } else if (typeof seed === 'number') {
    if (!Number.isSafeInteger(seed)) {
      throw new InputError(`seed ${seed} is not an integer that a number can hold exactly; pass it as a bigint or a decimal string`);
    }
    value = BigInt(seed);
  } else {
    if (!/^-?\d+$/.test(seed.trim())) throw new InputError(`seed '${seed}' is not a decimal integer`);
    value = BigInt(seed.trim());
  }
  if (value < INT64_MIN || value > UINT64_MAX) {
    throw new InputError(`seed ${value} is outside torch's range [-2^63, 2^64 - 1]`);
  }
  return BigInt.asUintN(64, value);
}

/** Validates a tensor shape and returns its element count. */
export function shapeSize(shape: readonly number[]): number {
  let size = 1;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new InputError(`shape [${shape.join(', ')}] has dimension ${dim}; dimensions are non-negative integers`);
    }
    size *= dim;
  }
  if (!Number.isSafeInteger(size) || size > 2 ** 31) {
    throw new InputError(`shape [${shape.join(', ')}] has ${size} elements, more than a Float32Array holds`);
  }
  return size;
}

export class TorchCPUGenerator implements RNG {
  /** The name recorded in provenance for noise from this generator. */
  static readonly NAME = 'torch-cpu-mt19937';
  readonly name = TorchCPUGenerator.NAME;
  readonly seed: bigint;
  private readonly engine: MT19937;
  /** The sine half of the last scalar Box-Muller pair, as torch's next_double_normal_sample. */
  private cachedNormal: number | undefined;

  constructor(seed: bigint | number | string) {
    this.seed = normalizeSeed(seed);
    this.engine = new MT19937(this.seed);
  }

  randn(shape: readonly number[]): Float32Array {
    const size = shapeSize(shape);
    const out = new Float32Array(size);
    if (size >= VECTOR_BLOCK) this.fillVectorised(out);
    else for (let i = 0; i < size; i++) out[i] = this.nextScalarNormal();
    return out;
  }

  /** A float in [0, 1) from the low 24 bits of one draw (uniform_real_distribution<float>). */
  private nextUniformFloat(): number {
    return (this.engine.nextUint32() & 0xffffff) * TWO_POW_M24;
  }

  /** A double in [0, 1) from the low 53 bits of two draws, the first one high (random64). */
  private nextUniformDouble(): number {
    const hi = this.engine.nextUint32() & 0x1fffff;
    const lo = this.engine.nextUint32();
    return (hi * TWO_POW_32 + lo) * TWO_POW_M53;
  }

  private nextScalarNormal(): number {
    if (this.cachedNormal !== undefined) {
      const cached = this.cachedNormal;
      this.cachedNormal = undefined;
      return cached;
    }
    const u1 = this.nextUniformDouble();
    const u2 = this.nextUniformDouble();
    const radius = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.cachedNormal = radius * Math.sin(theta);
    return radius * Math.cos(theta);
  }

  private fillVectorised(out: Float32Array): void {
    const size = out.length;
    for (let i = 0; i < size; i++) out[i] = this.nextUniformFloat();
    for (let i = 0; i + VECTOR_BLOCK <= size; i += VECTOR_BLOCK) boxMuller16(out, i);
    if (size % VECTOR_BLOCK !== 0) {
      const start = size - VECTOR_BLOCK;
      for (let i = 0; i < VECTOR_BLOCK; i++) out[start + i] = this.nextUniformFloat();
      boxMuller16(out, start);
    }
  }
}

/** Turns 16 uniforms at `offset` into 16 normals in place, as normal_fill_16_AVX2 does. */
function boxMuller16(data: Float32Array, offset: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = Math.fround(1 - data[offset + j]);
    const u2 = data[offset + j + 8];
    const radius = Math.fround(Math.sqrt(Math.fround(-2 * logAVX2(u1))));
    const { sin, cos } = sincosAVX2(Math.fround(TWO_PI_F32 * u2));
    // torch finishes with fma(n, std = 1, mean = 0), which also turns -0 into +0.
    data[offset + j] = Math.fround(radius * cos) + 0;
    data[offset + j + 8] = Math.fround(radius * sin) + 0;
  }
}
