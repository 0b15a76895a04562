// TorchCPUGenerator against the embedded model's own torch.randn references
// (test/fixtures/reference/model/randn.json and trajectory.json's initial noise, written by
// tools/tiny_model/make_fixtures.py). Bit-exact. Skipped, with the reason, until those files exist.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TorchCPUGenerator } from '../../../src/engine/rng';

interface StoredTensor {
  shape: number[];
  base64: string;
}
const DIR = join(__dirname, '../../fixtures/reference/model');
const RANDN = join(DIR, 'randn.json');
const TRAJECTORY = join(DIR, 'trajectory.json');

function bytes(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

describe('randn.json of the embedded model', { skip: existsSync(RANDN) ? false : 'test/fixtures/reference/model/randn.json is not there yet' }, () => {
  test('every case, bit for bit', () => {
    const fixture = JSON.parse(readFileSync(RANDN, 'utf8')) as { cases: { seed: string; shape: number[]; values: StoredTensor }[] };
    assert.ok(fixture.cases.length > 0);
    for (const c of fixture.cases) {
      const actual = new TorchCPUGenerator(BigInt(c.seed)).randn(c.shape);
      assert.ok(bytes(actual).equals(Buffer.from(c.values.base64, 'base64')), `seed ${c.seed} shape [${c.shape.join(', ')}]`);
    }
  });
});

describe('initial noise of the reference trajectory', { skip: existsSync(TRAJECTORY) ? false : 'test/fixtures/reference/model/trajectory.json is not there yet' }, () => {
  test('bit for bit', () => {
    const t = JSON.parse(readFileSync(TRAJECTORY, 'utf8')) as { seed: number; initial_noise: StoredTensor };
    const actual = new TorchCPUGenerator(t.seed).randn(t.initial_noise.shape);
    assert.ok(bytes(actual).equals(Buffer.from(t.initial_noise.base64, 'base64')));
  });
});
