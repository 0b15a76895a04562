// The preview's render history cache: one copy per recipe, newest first, bounded per scene and in total;
// and git versions of an output read through the Git extension or the git executable.
/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { GitHistory } from '../../../src/extension/history/gitHistory';
import { RenderHistory } from '../../../src/extension/history/renderHistory';

suite('imgprompt preview history', () => {
  let dir: string;
  setup(() => (dir = mkdtempSync(join(tmpdir(), 'imgprompt-history-'))));
  teardown(() => rmSync(dir, { recursive: true, force: true }));

  test('keeps one copy per recipe hash, newest first, at most N per scene', async () => {
    const history = new RenderHistory(join(dir, 'cache'), { maxEntriesPerScene: 2 });
    const png = join(dir, 'out.png');
    for (const key of ['aaa', 'bbb', 'bbb', 'ccc']) {
      writeFileSync(png, `png ${key}`);
      await history.record('file:///scene.imgprompt', png, { key, seed: '1', recipe: { prompt: key } });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const list = await history.list('file:///scene.imgprompt');
    assert.deepEqual(list.map((r) => r.key), ['ccc', 'bbb']);
    assert.deepEqual(list[0].recipe, { prompt: 'ccc' });
    assert.deepEqual(readdirSync(history.sceneDir('file:///scene.imgprompt')).sort(), ['bbb.png', 'ccc.png', 'index.json']);
    assert.deepEqual(await history.list('file:///other.imgprompt'), []);
  });

  test('drops the oldest entries of any scene beyond the total size budget', async () => {
    const history = new RenderHistory(join(dir, 'cache'), { maxTotalBytes: 25 });
    const png = join(dir, 'out.png');
    for (const [scene, key] of [['a', 'k1'], ['b', 'k2'], ['a', 'k3']]) {
      writeFileSync(png, '0123456789'); // 10 bytes each: the third pushes the total to 30 > 25.
      await history.record(scene, png, { key });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.deepEqual((await history.list('a')).map((r) => r.key), ['k3']);
    assert.deepEqual((await history.list('b')).map((r) => r.key), ['k2']);
  });

  test('git versions of a file, newest first, copied to the cache; a note outside a repository', async function () {
    this.timeout(20_000);
    const log = vscode.window.createOutputChannel('imgprompt history tests', { log: true });
    const repo = join(dir, 'repo');
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd: repo });
    execFileSync('git', ['init', '-q', repo]);
    writeFileSync(join(repo, 'fig.png'), 'version one');
    git('add', 'fig.png');
    git('commit', '-q', '-m', 'one');
    writeFileSync(join(repo, 'fig.png'), 'version two');
    git('commit', '-q', '-am', 'two\n\nbody');
    writeFileSync(join(repo, 'fig.png'), 'working');
    const history = new GitHistory(join(dir, 'git-cache'), log);
    const { versions, note } = await history.versions(join(repo, 'fig.png'));
    assert.equal(note, undefined);
    assert.deepEqual(versions.map((v) => v.message), ['two', 'one']);
    assert.deepEqual(versions.map((v) => readFileSync(v.file, 'utf8')), ['version two', 'version one']);
    assert.ok(versions[0].date > 0);

    writeFileSync(join(dir, 'loose.png'), 'x');
    const outside = await history.versions(join(dir, 'loose.png'));
    assert.deepEqual(outside.versions, []);
    assert.match(outside.note ?? '', /not in a git repository|git is not available/);
    log.dispose();
  });
});
