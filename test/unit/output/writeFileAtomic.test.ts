import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CancelledError, InputError } from '../../../src/engine/errors';
import { writeFileAtomic } from '../../../src/engine/output/writeFileAtomic';

function withFolder(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgprompt-atomic-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const big = Buffer.alloc(3 * 1024 + 17, 0xab);

describe('writeFileAtomic', () => {
  test('creates and replaces a file, leaving no temporary behind', withFolder(async (dir) => {
    const target = join(dir, 'figure.png');
    await writeFileAtomic(target, 'first');
    assert.equal(readFileSync(target, 'utf8'), 'first');
    await writeFileAtomic(target, big, { chunkSize: 1024 });
    assert.ok(readFileSync(target).equals(big));
    assert.deepEqual(readdirSync(dir), ['figure.png']);
  }));

  test('a failure mid-write removes the temporary and leaves the previous file untouched', withFolder(async (dir) => {
    const target = join(dir, 'figure.png');
    writeFileSync(target, 'previous output');
    const seen: string[] = [];
    await assert.rejects(
      writeFileAtomic(target, big, {
        chunkSize: 1024,
        afterChunk: (written, temp) => {
          seen.push(...readdirSync(dir).filter((f) => f.endsWith('.tmp')));
          assert.equal(readFileSync(temp).length, written);
          if (written >= 2048) throw new Error('ENOSPC: simulated disk full');
        },
      }),
      /simulated disk full/,
    );
    assert.equal(seen.length, 2, 'the temporary existed in the same folder while writing');
    assert.match(seen[0], /^\.figure\.png\.\d+\.[0-9a-f]{12}\.tmp$/);
    assert.equal(readFileSync(target, 'utf8'), 'previous output');
    assert.deepEqual(readdirSync(dir), ['figure.png']);
  }));

  test('cancellation mid-write throws CancelledError and changes nothing', withFolder(async (dir) => {
    const target = join(dir, 'figure.png');
    writeFileSync(target, 'previous output');
    const controller = new AbortController();
    await assert.rejects(
      writeFileAtomic(target, big, { chunkSize: 1024, signal: controller.signal, afterChunk: () => controller.abort() }),
      CancelledError,
    );
    assert.equal(readFileSync(target, 'utf8'), 'previous output');
    assert.deepEqual(readdirSync(dir), ['figure.png']);
    await assert.rejects(writeFileAtomic(join(dir, 'new.png'), 'x', { signal: controller.signal }), CancelledError);
    assert.deepEqual(readdirSync(dir), ['figure.png']);
  }));

  test('overwrite: false refuses an existing file with an InputError naming it', withFolder(async (dir) => {
    const target = join(dir, 'scene.imgprompt');
    await writeFileAtomic(target, 'prompt: one\n', { overwrite: false });
    await assert.rejects(writeFileAtomic(target, 'prompt: two\n', { overwrite: false }), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.equal(e.message, `${target}: already exists (use --force to overwrite)`);
      return true;
    });
    assert.equal(readFileSync(target, 'utf8'), 'prompt: one\n');
    assert.deepEqual(readdirSync(dir), ['scene.imgprompt']);
  }));

  test('a missing folder fails without creating anything', withFolder(async (dir) => {
    await assert.rejects(writeFileAtomic(join(dir, 'nope', 'x.png'), 'x'), /ENOENT/);
    assert.deepEqual(readdirSync(dir), []);
  }));
});
