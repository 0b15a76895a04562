import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../../src/cli/main';
import type { CliIO } from '../../../src/cli/command';

function capture(): { io: CliIO; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t) => out.push(t), stderr: (t) => err.push(t), isTTY: false, cwd: process.cwd(), env: {} }, out, err };
}

test('--help lists usage and exits 0', async () => {
  const { io, out } = capture();
  assert.equal(await main(['--help'], io, new AbortController().signal), 0);
  assert.match(out.join(''), /usage: imgprompt <command>/);
});

test('an unknown command exits 2 and says which', async () => {
  const { io, err } = capture();
  assert.equal(await main(['frobnicate'], io, new AbortController().signal), 2);
  assert.match(err.join(''), /unknown command 'frobnicate'/);
});
