import { test } from 'node:test';
import assert from 'node:assert/strict';
import { float16ToFloat32, float32ToFloat16, fromFloat16Bits, toFloat16Bits } from '../../../src/engine/onnx/float16';

// Bit patterns from the IEEE 754 binary16 definition (and numpy.float16(x).view(np.uint16)).
test('known values convert to the IEEE binary16 bit patterns', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [65504, 0x7bff], // largest finite
    [65520, 0x7c00], // halfway to 65536 rounds to even = overflow to infinity
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // halfway between 0 and the smallest subnormal: ties to even (0)
    [3 * 2 ** -26, 0x0001],
    [2 ** -14, 0x0400], // smallest normal
    [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10 goes to the even mantissa
    [1 + 3 * 2 ** -11, 0x3c02],
  ];
  for (const [value, bits] of cases) assert.equal(toFloat16Bits(value), bits, `toFloat16Bits(${value})`);
  assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN))));
});

test('every float16 value round-trips exactly', () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const value = fromFloat16Bits(bits);
    if (Number.isNaN(value)) continue;
    assert.equal(toFloat16Bits(value), bits, `bits 0x${bits.toString(16)}`);
  }
});

test('values between two neighbours round to the nearer, ties to the even one', () => {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let bits = 0; bits < 0x7bff; bits++) {
    const low = fromFloat16Bits(bits);
    const high = fromFloat16Bits(bits + 1);
    f[0] = (low + high) / 2; // exact in float32: one more significand bit than float16
    const even = bits % 2 === 0 ? bits : bits + 1;
    assert.equal(toFloat16Bits(f[0]), even, `midpoint after 0x${bits.toString(16)}`);
    u[0] += 1;
    assert.equal(toFloat16Bits(f[0]), bits + 1, `just above the midpoint after 0x${bits.toString(16)}`);
    u[0] -= 2;
    assert.equal(toFloat16Bits(f[0]), bits, `just below the midpoint after 0x${bits.toString(16)}`);
  }
});

test('array helpers convert element-wise', () => {
  const bits = float32ToFloat16([1, -2, 0.5]);
  assert.deepEqual([...bits], [0x3c00, 0xc000, 0x3800]);
  assert.deepEqual([...float16ToFloat32(bits)], [1, -2, 0.5]);
});
