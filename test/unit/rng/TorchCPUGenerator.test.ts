// TorchCPUGenerator against torch.randn's exact float32 bits (fixtures written by
// tools/reference/make_rng_fixtures.py with torch 1.13 on x86-64 AVX2). Tolerance: none, bit-exact.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TorchCPUGenerator, normalizeSeed } from '../../../src/engine/rng';
import { MT19937 } from '../../../src/engine/rng/MT19937';
import { fmaf } from '../../../src/engine/rng/float32';
import { InputError } from '../../../src/engine/errors';

interface Draw {
  shape: number[];
  f32le_base64?: string;
  sha256?: string;
  head_f32le_base64?: string;
  tail_f32le_base64?: string;
}
interface Fixture {
  torch: string;
  cases: { seed: string; draws: Draw[] }[];
}

const fixture = JSON.parse(
  readFileSync(join(__dirname, '../../fixtures/reference/rng/torch_randn.json'), 'utf8'),
) as Fixture;

function bytesOf(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/** Index and values of the first differing element, for a readable failure. */
function firstDifference(actual: Float32Array, expected: Buffer): string {
  const want = new Float32Array(expected.buffer.slice(expected.byteOffset, expected.byteOffset + expected.byteLength));
  const i = want.findIndex((v, k) => !Object.is(v, actual[k]));
  return i < 0 ? 'lengths differ' : `element ${i}: got ${actual[i]}, torch ${want[i]}`;
}

describe('TorchCPUGenerator reproduces torch.randn bit for bit', () => {
  for (const { seed, draws } of fixture.cases) {
    const label = `seed ${seed}: ${draws.map((d) => `[${d.shape.join('x')}]`).join(' then ')}`;
    test(label, () => {
      const rng = new TorchCPUGenerator(BigInt(seed));
      for (const [k, draw] of draws.entries()) {
        const actual = rng.randn(draw.shape);
        const bytes = bytesOf(actual);
        if (draw.f32le_base64 !== undefined) {
          const expected = Buffer.from(draw.f32le_base64, 'base64');
          assert.ok(bytes.equals(expected), `draw ${k}: ${firstDifference(actual, expected)}`);
        } else {
          const head = Buffer.from(draw.head_f32le_base64 ?? '', 'base64');
          const tail = Buffer.from(draw.tail_f32le_base64 ?? '', 'base64');
          assert.ok(bytes.subarray(0, head.length).equals(head), `draw ${k} head: ${firstDifference(actual.subarray(0, 16), head)}`);
          assert.ok(bytes.subarray(bytes.length - tail.length).equals(tail), `draw ${k} tail differs`);
          assert.equal(createHash('sha256').update(bytes).digest('hex'), draw.sha256, `draw ${k}: SHA-256 of all values`);
        }
      }
    });
  }
});

describe('seeds', () => {
  test('torch uses only the low 32 bits: 2^32 + 5 draws what 5 draws', () => {
    const a = new TorchCPUGenerator(5).randn([1, 4, 8, 8]);
    const b = new TorchCPUGenerator((1n << 32n) + 5n).randn([1, 4, 8, 8]);
    assert.deepEqual(a, b);
  });

  test('negative seeds wrap to unsigned 64 bits as torch.Generator.manual_seed does', () => {
    assert.equal(normalizeSeed(-1), (1n << 64n) - 1n);
    assert.equal(normalizeSeed('-9223372036854775808'), 1n << 63n);
    assert.equal(normalizeSeed('18446744073709551615'), (1n << 64n) - 1n);
  });

  test('out-of-range and non-integer seeds are rejected with the value named', () => {
    assert.throws(() => normalizeSeed(1n << 64n), (e: unknown) => e instanceof InputError && /18446744073709551616/.test(e.message));
    assert.throws(() => normalizeSeed(-(1n << 63n) - 1n), InputError);
    assert.throws(() => normalizeSeed(1.5), /1\.5/);
    assert.throws(() => normalizeSeed(2 ** 60), /bigint/);
    assert.throws(() => normalizeSeed('12abc'), /'12abc'/);
  });

  test('bad shapes are rejected', () => {
    const rng = new TorchCPUGenerator(0);
    assert.throws(() => rng.randn([2, -1]), /dimension -1/);
    assert.throws(() => rng.randn([2.5]), /dimension 2\.5/);
    assert.equal(rng.randn([0, 4]).length, 0);
  });

  test('records its name and seed for provenance', () => {
    const rng = new TorchCPUGenerator('42');
    assert.equal(rng.name, 'torch-cpu-mt19937');
    assert.equal(rng.seed, 42n);
  });
});

describe('building blocks', () => {
  test('MT19937 matches the reference generator (seed 5489: first output 3499211612, 10000th 4123659995)', () => {
    const mt = new MT19937(5489n);
    assert.equal(mt.nextUint32(), 3499211612);
    for (let i = 2; i < 10000; i++) mt.nextUint32();
    assert.equal(mt.nextUint32(), 4123659995);
  });

  test('fmaf rounds once where rounding the double sum would round twice', () => {
    const a = 1 + 2 ** -12; // a*a = 1 + 2^-11 + 2^-24, a float32 midpoint
    const c = 2 ** -70; // lifts the exact sum just above that midpoint
    assert.equal(Math.fround(a * a + c), 1 + 2 ** -11); // double rounding: ties to even, down
    assert.equal(fmaf(a, a, c), 1 + 2 ** -11 + 2 ** -23);
    assert.equal(fmaf(a, a, -c), 1 + 2 ** -11);
    assert.equal(fmaf(2, 3, 1), 7);
  });
});
