// Issue 15, defect 10: a figure that cannot be written (a read-only folder, a full disk, a file where a
// folder should be) is the user's problem, not a crash: one line naming the path and the OS reason in
// words, the figure counted as failed (exit 1) while the other scenes still render, no stack trace, no
// exit 70 (which stays for real bugs), and no temporary file left behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, OutputError } from '../../src/engine/errors';
import { systemErrorReason } from '../../src/engine/io/systemErrorReason';
import { writeFileAtomic } from '../../src/engine/output/writeFileAtomic';
import { buildCli, temporariesIn, type CliUnderTest } from './cliProcess';

const scene = (prompt: string, extra = '') => `model: tiny-shapes\nprompt: ${prompt}\nseed: 3\nsteps: 2\n${extra}`;
const runningAsRoot = process.getuid?.() === 0;

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-write-errors-'));
  mkdirSync(join(dir, '.git'));
  return dir;
}

/** The assertions every write failure shares: exit 1, one error line, no stack, no temporary. */
function assertOneLineFailure(result: { status: number | null; stdout: string; stderr: string }, dir: string, expected: RegExp): void {
  assert.equal(result.status, 1, `exit code; stderr:\n${result.stderr}`);
  assert.doesNotMatch(result.stderr, /internal error/);
  assert.doesNotMatch(result.stderr, /^\s+at /m, 'a stack trace reached the user');
  const errors = result.stderr.split('\n').filter((l) => /error/.test(l));
  assert.equal(errors.length, 1, `one error line, got:\n${result.stderr}`);
  assert.match(errors[0], expected);
  assert.deepEqual(temporariesIn(dir), [], 'a temporary file was left behind');
}

describe('write errors (issue 15, defect 10)', () => {
  let cli: CliUnderTest;
  const dirs: string[] = [];
  before(() => {
    cli = buildCli();
  });
  after(() => {
    cli.cleanup();
    for (const dir of dirs) chmodSync(dir, 0o755);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('render: an output under a file (a.png/b.png where a.png is a file) fails in one line with ENOTDIR; the next scene still renders', () => {
    const dir = project();
    dirs.push(dir);
    writeFileSync(join(dir, 'a.png'), 'not a folder');
    writeFileSync(join(dir, 'under.imgprompt'), scene('a large red circle on the left, blue background', 'output: a.png/b.png\n'));
    writeFileSync(join(dir, 'fine.imgprompt'), scene('a small blue square at the top right; black background'));
    const result = cli.run(dir, ['render', 'under.imgprompt', 'fine.imgprompt']);
    assertOneLineFailure(result, dir, /^a\.png\/b\.png: error: cannot write the figure: a file stands where a folder should be \(ENOTDIR\)$/);
    assert.match(result.stdout, /fine\.png: rendered/);
    assert.ok(existsSync(join(dir, 'fine.png')));
  });

  test('render: a read-only output folder fails in one line with EACCES', { skip: runningAsRoot && 'running as root, where a 0o555 folder does not stop writes (the ENOTDIR case above covers root)' }, () => {
    const dir = project();
    dirs.push(dir);
    mkdirSync(join(dir, 'figures'));
    writeFileSync(join(dir, 'figures', 'x.imgprompt'), scene('a large red circle on the left, blue background'));
    chmodSync(join(dir, 'figures'), 0o555);
    dirs.push(join(dir, 'figures'));
    const result = cli.run(dir, ['render', 'figures/x.imgprompt']);
    assertOneLineFailure(result, dir, /^figures\/x\.png: error: cannot write the figure: permission denied \(EACCES\)$/);
  });
});

describe('writeFileAtomic reports OS failures as OutputError, in words', () => {
  const withFolder = (fn: (dir: string) => Promise<void>) => async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgprompt-write-errors-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const failsWith = async (write: Promise<void>, path: string, reason: string, code: string) =>
    assert.rejects(write, (e: unknown) => {
      assert.ok(e instanceof OutputError, `expected an OutputError, got ${String(e)}`);
      assert.ok(e instanceof InputError, 'every front end that reports InputError reports it');
      assert.equal(e.path, path);
      assert.equal(e.code, code);
      assert.equal(e.reason, reason);
      assert.equal(e.message, `${path}: ${reason}`);
      return true;
    });

  test('a folder where the file should be: EISDIR', withFolder(async (dir) => {
    mkdirSync(join(dir, 'figure.png'));
    await failsWith(writeFileAtomic(join(dir, 'figure.png'), 'x', { label: 'the figure' }), join(dir, 'figure.png'), 'cannot write the figure: a folder stands where the file should be (EISDIR)', 'EISDIR');
    assert.deepEqual(readdirSync(dir), ['figure.png']);
  }));

  test('a name longer than the file system allows: ENAMETOOLONG', withFolder(async (dir) => {
    const target = join(dir, `${'n'.repeat(300)}.png`);
    await failsWith(writeFileAtomic(target, 'x'), target, 'cannot write the file: the name is too long (ENAMETOOLONG)', 'ENAMETOOLONG');
  }));

  test('a full disk mid-write: ENOSPC, and the temporary is removed', withFolder(async (dir) => {
    const target = join(dir, 'figure.png');
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    const write = writeFileAtomic(target, Buffer.alloc(4096), { chunkSize: 1024, label: 'the figure', afterChunk: () => Promise.reject(full) });
    await failsWith(write, target, 'cannot write the figure: no space left on the device (ENOSPC)', 'ENOSPC');
    assert.deepEqual(readdirSync(dir), []);
  }));

  test('a missing folder: ENOENT', withFolder(async (dir) => {
    const target = join(dir, 'nope', 'x.png');
    await failsWith(writeFileAtomic(target, 'x'), target, 'cannot write the file: the folder does not exist (ENOENT)', 'ENOENT');
  }));

  test('each OS reason reads as words with its code', () => {
    const reason = (code: string) => systemErrorReason(Object.assign(new Error(code), { code, syscall: 'open' }));
    assert.equal(reason('EACCES'), 'permission denied (EACCES)');
    assert.equal(reason('EROFS'), 'the file system is read-only (EROFS)');
    assert.equal(reason('EDQUOT'), 'the disk quota is exceeded (EDQUOT)');
    assert.equal(reason('ENOTDIR'), 'a file stands where a folder should be (ENOTDIR)');
    assert.equal(reason('EIO'), 'an input/output error of the device (EIO)');
    const unlisted = Object.assign(new Error('ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'write' });
    assert.match(systemErrorReason(unlisted) ?? '', /^[a-z][a-z ]+ \(ECONNRESET\)$/, 'libuv\'s words for a code not listed');
    assert.equal(systemErrorReason(new Error('a bug')), undefined, 'an error without an OS code is not a write failure');
  });
});
