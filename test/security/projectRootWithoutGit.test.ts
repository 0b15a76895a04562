// Issue 15, defect 13b: without .git the CLI's project root was the working directory, so running
// `imgprompt` from a parent folder (or from /) made that whole tree the project a scene could read and
// write. The project root is the nearest ancestor holding .git, else the scene's own folder, wherever the
// command runs from.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import type { CliIO } from '../../src/cli/command';
import { checkCommand } from '../../src/cli/commands/check';
import { findProjectRoot } from '../../src/cli/sceneContext';

async function check(cwd: string, file: string): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const io: CliIO = { stdout: (t) => out.push(t), stderr: (t) => out.push(t), isTTY: false, cwd, env: {} };
  const code = await checkCommand.run([file], io, new AbortController().signal);
  return { code, out: out.join('') };
}

/** A folder with no .git in it or above it: `parent/figs/scene.imgprompt` writes `../x.png`. */
function looseTree(): { parent: string; scene: string; cleanup(): void } {
  const parent = realpathSync(mkdtempSync(join(tmpdir(), 'imgprompt-root-')));
  for (let dir = parent; ; dir = dirname(dir)) {
    assert.equal(existsSync(join(dir, '.git')), false, `this test needs a temporary folder with no .git above it (${dir} has one)`);
    if (dir === parse(dir).root) break;
  }
  mkdirSync(join(parent, 'figs'));
  const scene = join(parent, 'figs', 'scene.imgprompt');
  writeFileSync(scene, 'model: tiny-shapes\nprompt: a red circle\nseed: 1\noutput: ../x.png\n');
  return { parent, scene, cleanup: () => rmSync(parent, { recursive: true, force: true }) };
}

describe('the CLI project root without .git (issue 15, defect 13b)', () => {
  test('is the scene\'s own folder, not the working directory: from a parent folder, ../x.png is outside the project', async () => {
    const tree = looseTree();
    try {
      const { code, out } = await check(tree.parent, 'figs/scene.imgprompt');
      assert.equal(code, 1, out);
      assert.match(out, /output '\.\.\/x\.png' is outside the project folder/);
      const fromRoot = await check(parse(tree.parent).root, tree.scene);
      assert.equal(fromRoot.code, 1, `run from the file system root the whole disk is not the project:\n${fromRoot.out}`);
      assert.equal(findProjectRoot(tree.scene), join(tree.parent, 'figs'));
    } finally {
      tree.cleanup();
    }
  });

  test('is the nearest ancestor holding .git when there is one: then ../x.png is inside the project', async () => {
    const tree = looseTree();
    try {
      mkdirSync(join(tree.parent, '.git'));
      assert.equal(findProjectRoot(tree.scene), tree.parent);
      const { code, out } = await check(tree.parent, 'figs/scene.imgprompt');
      assert.equal(code, 0, out);
      assert.doesNotMatch(out, /outside the project/);
    } finally {
      tree.cleanup();
    }
  });
});
