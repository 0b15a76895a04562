// The `imgprompt` command as CI and users run it (the built out/cli.js in a fresh process): render writes
// figures and skips up-to-date ones, verify fails naming what changed, watch re-renders on change.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readImageMetadata } from '../../src/engine/index';
import { repoRoot, tempProject } from './modelUnderTest';

const cli = join(repoRoot, 'out', 'cli.js');
const project = tempProject();
const env = { ...process.env, CI: 'true', IMGPROMPT_CACHE_DIR: join(project.dir, '.cache'), IMGPROMPT_CONFIG_DIR: join(project.dir, '.config') };
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: project.dir, encoding: 'utf8', env });
const scene = (prompt: string, seed = 5) => `model: tiny-shapes\nprompt: ${prompt}\nseed: ${seed}\nsteps: 6\n`;

describe('imgprompt CLI', () => {
  before(() => {
    if (!existsSync(cli)) assert.equal(spawnSync(process.execPath, [join(repoRoot, 'esbuild.mjs')], { cwd: repoRoot }).status, 0);
  });
  after(() => project.cleanup());

  test('render writes each figure, then reports it up to date; --force renders again, byte-identical', () => {
    project.write('a.imgprompt', scene('a large red circle on the left, blue background'));
    const first = run('render', '.');
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /a\.png: rendered 128x128, 6 steps/);
    const bytes = readFileSync(join(project.dir, 'a.png'));
    const second = run('render', 'a.imgprompt');
    assert.match(second.stdout, /a\.png: up to date/);
    assert.equal(run('render', '--force', 'a.imgprompt').status, 0);
    assert.ok(readFileSync(join(project.dir, 'a.png')).equals(bytes), 'a forced re-render changed the bytes');
  });

  test('IMGPROMPT_LABEL labels scenes without label: (in the recipe, byte-identical again, verify needs the same setting); label: off opts out', () => {
    const labelled = { ...env, IMGPROMPT_LABEL: '{"text": "AI-generated", "corner": "top-left", "size": 14}' };
    const runWith = (e: NodeJS.ProcessEnv, ...args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: project.dir, encoding: 'utf8', env: e });
    project.write('l.imgprompt', scene('a large red circle on the left, blue background', 11));
    const first = runWith(labelled, 'render', 'l.imgprompt');
    assert.equal(first.status, 0, first.stderr);
    const bytes = readFileSync(join(project.dir, 'l.png'));
    assert.deepEqual(readImageMetadata(bytes, 'l.png').recipe?.label, { text: 'AI-generated', corner: 'top-left', size: 14, opacity: 0.8 });
    assert.equal(runWith(labelled, 'verify', 'l.imgprompt').status, 0);
    const without = run('verify', 'l.imgprompt');
    assert.equal(without.status, 1, 'verify without the label setting did not find the figure stale');
    assert.match(without.stdout, /l\.png: stale/);
    assert.equal(runWith(labelled, 'render', '--force', 'l.imgprompt').status, 0);
    assert.ok(readFileSync(join(project.dir, 'l.png')).equals(bytes), 'a forced re-render with the label setting changed the bytes');
    project.write('off.imgprompt', `${scene('a large red circle on the left, blue background', 11)}label: off\n`);
    assert.equal(runWith(labelled, 'render', 'off.imgprompt').status, 0);
    assert.equal(readImageMetadata(readFileSync(join(project.dir, 'off.png')), 'off.png').recipe?.label, undefined);
    const bad = runWith({ ...env, IMGPROMPT_LABEL: '{"corner": "middle"}' }, 'render', 'l.imgprompt');
    assert.equal(bad.status, 2, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /IMGPROMPT_LABEL\.corner must be one of bottom-right/);
  });

  test('verify exits 1 after a pixel-affecting edit and names the change; 0 once re-rendered', () => {
    project.write('b.imgprompt', scene('a small blue square at the top right; black background', 8));
    assert.equal(run('render', 'b.imgprompt').status, 0);
    assert.equal(run('verify', 'b.imgprompt').status, 0);
    project.write('b.imgprompt', scene('a small green square at the top right; black background', 9));
    const stale = run('verify', 'b.imgprompt');
    assert.equal(stale.status, 1);
    assert.match(stale.stdout, /b\.png: stale/);
    assert.match(stale.stdout, /prompt: a small blue square .* → a small green square/);
    assert.match(stale.stdout, /seed: 8 → 9/);
    assert.equal(run('render', 'b.imgprompt').status, 0);
    const fresh = run('verify', '--rerender', 'b.imgprompt');
    assert.equal(fresh.status, 0, fresh.stdout + fresh.stderr);
    assert.match(fresh.stdout, /re-render is pixel-identical/);
  });

  test('a model that does not fit in memory is a clear error naming the file and the sizes; nothing is written', () => {
    project.write('m.imgprompt', scene('a large red circle on the left, blue background'));
    const tight = spawnSync(process.execPath, [cli, 'render', 'm.imgprompt'], { cwd: project.dir, encoding: 'utf8', env: { ...env, IMGPROMPT_MEMORY_LIMIT: '64MB' } });
    assert.equal(tight.status, 1, tight.stdout + tight.stderr);
    assert.match(tight.stderr, /models[\\/]tiny-shapes[\\/]\w+[\\/]model\.onnx.*not enough memory to load this model: it needs about \d+ MB \(weights \d+ (KB|MB)\) and \d+ MB is available/);
    assert.equal(existsSync(join(project.dir, 'm.png')), false);
    const odd = spawnSync(process.execPath, [cli, 'render', 'm.imgprompt'], { cwd: project.dir, encoding: 'utf8', env: { ...env, IMGPROMPT_MEMORY_LIMIT: 'lots' } });
    assert.equal(odd.status, 2);
    assert.match(odd.stderr, /IMGPROMPT_MEMORY_LIMIT must be a size such as 6GB or 512MB, got 'lots'/);
    const roomy = spawnSync(process.execPath, [cli, 'render', 'm.imgprompt'], { cwd: project.dir, encoding: 'utf8', env: { ...env, IMGPROMPT_MEMORY_LIMIT: '2GB' } });
    assert.equal(roomy.status, 0, roomy.stderr);
  });

  test('precision: int8 renders reproducibly, is recorded in the PNG, and is part of the recipe', () => {
    project.write('p.imgprompt', `${scene('a large red circle on the left, blue background')}precision: int8\n`);
    assert.equal(run('render', 'p.imgprompt').status, 0);
    const bytes = readFileSync(join(project.dir, 'p.png'));
    const recipe = readImageMetadata(bytes, 'p.png').recipe;
    assert.equal(recipe?.precision, 'int8');
    assert.match(run('inspect', 'p.png').stdout, /\n  precision +int8\n/);
    assert.equal(run('render', '--force', 'p.imgprompt').status, 0);
    assert.ok(readFileSync(join(project.dir, 'p.png')).equals(bytes), 'an int8 re-render changed the bytes');
    project.write('p.imgprompt', scene('a large red circle on the left, blue background'));
    const stale = run('verify', 'p.imgprompt');
    assert.equal(stale.status, 1);
    assert.match(stale.stdout, /p\.png: stale\n  precision: int8 → fp32\n/);
  });

  test('verify and render report a missing figure and a broken scene at their lines, exit 1', () => {
    project.write('c.imgprompt', scene('a large white triangle in the center, red background'));
    const missing = run('verify', 'c.imgprompt');
    assert.equal(missing.status, 1);
    assert.match(missing.stdout, /c\.png: missing/);
    project.write('bad.imgprompt', 'model: tiny-shapes\nprompt: x\nsteps: -3\n');
    const bad = run('render', 'bad.imgprompt');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /bad\.imgprompt:3:\d+: error: .*steps/);
    assert.equal(existsSync(join(project.dir, 'bad.png')), false);
  });

  test('watch renders, then re-renders when the scene changes', async () => {
    const file = project.write('w.imgprompt', scene('a large yellow circle on the right, purple background'));
    const png = join(project.dir, 'w.png');
    const child = spawn(process.execPath, [cli, 'watch', file], { cwd: project.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const until = async (what: string, condition: () => boolean) => {
      const deadline = Date.now() + 60_000;
      while (!condition()) {
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; watch said:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const promptIn = () => (existsSync(png) ? readImageMetadata(readFileSync(png)).metadata?.prompt : undefined);
    try {
      await until('the first render', () => promptIn() === 'a large yellow circle on the right, purple background');
      writeFileSync(file, scene('a large orange circle on the right, purple background'));
      await until('the re-render', () => promptIn() === 'a large orange circle on the right, purple background');
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
  });
});
