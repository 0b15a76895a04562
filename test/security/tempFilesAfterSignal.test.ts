// Issue 15, defect 13a: no temporary file survives a stopped CLI. SIGTERM is handled like Ctrl+C (the
// render is aborted, its temporary removed, exit 143); a second signal exits at once and the exit hook
// removes the temporary; temporaries left by a process that died outright are swept by the next write
// into their folder, while those of a live process are left alone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeFileAtomic } from '../../src/engine/output/writeFileAtomic';
import { buildCli, temporariesIn, type CliUnderTest } from './cliProcess';

const slowWrites = ['--import', pathToFileURL(join(__dirname, 'slowTemporaryWrites.mjs')).href];
const scene = `model: tiny-shapes\nprompt: a large red circle on the left, blue background\nseed: 4\nsteps: 2\n`;

interface Stopped {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Starts the CLI rendering one scene with slow temporary writes; resolves once a temporary is being written. */
async function renderUntilWriting(cli: CliUnderTest, dir: string, delayMs: number): Promise<{ child: ChildProcess; temp: string; exited: Promise<Stopped> }> {
  const child = cli.start(dir, ['render', 'figure.imgprompt'], { SLOW_WRITE_MS: String(delayMs) }, slowWrites);
  let stderr = '';
  const exited = new Promise<Stopped>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, stderr })));
  const temp = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no write began within 60 s; stderr:\n${stderr}`)), 60_000);
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      const match = /slow write: (.+)\n/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', () => reject(new Error(`the CLI exited before writing; stderr:\n${stderr}`)));
  });
  return { child, temp, exited };
}

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-signal-'));
  mkdirSync(join(dir, '.git'));
  writeFileSync(join(dir, 'figure.imgprompt'), scene);
  return dir;
}

describe('temporary files after a signal (issue 15, defect 13a)', () => {
  let cli: CliUnderTest;
  const dirs: string[] = [];
  before(() => {
    cli = buildCli();
  });
  after(() => {
    cli.cleanup();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('SIGTERM mid-write aborts the render like Ctrl+C: exit 143, no temporary, no figure', async () => {
    const dir = project();
    dirs.push(dir);
    const { child, temp, exited } = await renderUntilWriting(cli, dir, 2000);
    assert.ok(existsSync(temp), 'the temporary exists while the figure is written');
    child.kill('SIGTERM');
    const stopped = await exited;
    assert.deepEqual({ code: stopped.code, signal: stopped.signal }, { code: 143, signal: null }, stopped.stderr);
    assert.match(stopped.stderr, /imgprompt render: interrupted \(SIGTERM\)/);
    assert.deepEqual(temporariesIn(dir), []);
    assert.equal(existsSync(join(dir, 'figure.png')), false);
  });

  test('Ctrl+C (SIGINT) mid-write: exit 130, no temporary', async () => {
    const dir = project();
    dirs.push(dir);
    const { child, exited } = await renderUntilWriting(cli, dir, 2000);
    child.kill('SIGINT');
    const stopped = await exited;
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.deepEqual(temporariesIn(dir), []);
  });

  test('a write that hangs: a second SIGTERM exits at once and the exit hook removes the temporary', async () => {
    const dir = project();
    dirs.push(dir);
    const { child, temp, exited } = await renderUntilWriting(cli, dir, 600_000);
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(existsSync(temp), 'the first signal waits for the write to reach a step boundary');
    child.kill('SIGTERM');
    const stopped = await exited;
    assert.deepEqual({ code: stopped.code, signal: stopped.signal }, { code: 143, signal: null }, stopped.stderr);
    assert.deepEqual(temporariesIn(dir), []);
  });
});

describe('stale temporaries are swept by the next write into their folder', () => {
  test('a dead process\'s temporary is removed; a live process\'s, or a file not named like ours, is left alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgprompt-sweep-'));
    try {
      const dead = spawnSync(process.execPath, ['-e', '']).pid;
      assert.throws(() => process.kill(dead, 0), /ESRCH/, 'the child has exited and its pid is free');
      const live = process.ppid;
      const stale = `.figure.png.${dead}.0123456789ab.tmp`;
      const otherFigureStale = `.other.png.${dead}.ba9876543210.tmp`;
      const inUse = `.figure.png.${live}.abcdefabcdef.tmp`;
      const notOurs = [`.figure.png.${dead}.tmp`, `figure.png.${dead}.0123456789ab.tmp`, `.figure.png.${dead}.0123456789ab.tmp.bak`];
      for (const name of [stale, otherFigureStale, inUse, ...notOurs]) writeFileSync(join(dir, name), 'partial');
      mkdirSync(join(dir, `.folder.${dead}.0123456789ab.tmp`));
      await writeFileAtomic(join(dir, 'figure.png'), 'new');
      const left = readdirSync(dir).sort();
      assert.deepEqual(left, ['figure.png', `.folder.${dead}.0123456789ab.tmp`, inUse, ...notOurs].sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
