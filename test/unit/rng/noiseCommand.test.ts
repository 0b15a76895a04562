// `imgprompt noise` prints torch's noise for a seed as JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../../src/cli/main';
import type { CliIO } from '../../../src/cli/command';

function capture(): { io: CliIO; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t) => out.push(t), stderr: (t) => err.push(t), isTTY: false, cwd: process.cwd(), env: {} }, out, err };
}

test('noise --seed 0 --shape 1,2 prints torch.randn(2) of seed 0', async () => {
  const { io, out } = capture();
  assert.equal(await main(['noise', '--seed', '0', '--shape', '1,2'], io, new AbortController().signal), 0);
  const printed = JSON.parse(out.join('')) as { rng: string; seed: string; shape: number[]; data: number[] };
  assert.equal(printed.rng, 'torch-cpu-mt19937');
  assert.deepEqual(printed.shape, [1, 2]);
  // torch.randn(2, generator=torch.Generator().manual_seed(0)) == [1.5409960746765137, -0.293428897857666]
  assert.deepEqual(printed.data, [1.5409960746765137, -0.293428897857666]);
});

test('noise accepts --seed=S and 64-bit seeds', async () => {
  const { io, out } = capture();
  assert.equal(await main(['noise', '--seed=18446744073709551615', '--shape=16'], io, new AbortController().signal), 0);
  const printed = JSON.parse(out.join('')) as { seed: string; data: number[] };
  assert.equal(printed.seed, '18446744073709551615');
  assert.equal(printed.data.length, 16);
});

test('noise without --shape or with a bad dimension is a usage error', async () => {
  const a = capture();
  assert.equal(await main(['noise', '--seed', '1'], a.io, new AbortController().signal), 2);
  assert.match(a.err.join(''), /--shape is required/);
  const b = capture();
  assert.equal(await main(['noise', '--seed', '1', '--shape', '1,x'], b.io, new AbortController().signal), 2);
  assert.match(b.err.join(''), /dimension 'x'/);
  const c = capture();
  assert.equal(await main(['noise', '--seed', 'abc', '--shape', '1'], c.io, new AbortController().signal), 1);
  assert.match(c.err.join(''), /seed 'abc'/);
});

test('noise --rng nv uses the A1111 NV source; an unknown --rng is a usage error', async () => {
  const a = capture();
  assert.equal(await main(['noise', '--seed', '0', '--shape', '3,4', '--rng', 'nv'], a.io, new AbortController().signal), 0);
  const printed = JSON.parse(a.out.join('')) as { rng: string; data: number[] };
  assert.equal(printed.rng, 'a1111-nv-philox4x32');
  assert.ok(Math.abs(printed.data[0] - -0.92466259) < 3e-7);
  const b = capture();
  assert.equal(await main(['noise', '--seed', '0', '--shape', '1', '--rng', 'gpu'], b.io, new AbortController().signal), 2);
  assert.match(b.err.join(''), /--rng 'gpu' is not one of cpu, nv/);
});
