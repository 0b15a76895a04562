// `imgprompt check` and `imgprompt resolve` through the CLI's main(), as a user would run them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../../../src/cli/main';
import { builtinModelsDir, findPackageRoot, findProjectRoot } from '../../../src/cli/sceneContext';
import type { CliIO } from '../../../src/cli/command';

const repo = resolve(__dirname, '../../..');
const scenes = 'test/fixtures/scenes';
const modelPath = ['--model-path', 'test/fixtures/models'];

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), isTTY: false, cwd: repo, env: {} };
  const code = await main(args, io, new AbortController().signal);
  return { code, out: out.join(''), err: err.join('') };
}

// The broken set from the foundation issue's "Done means", each with the line of its problem (1-based).
const BROKEN: [string, number][] = [
  ['bad-indentation', 3],
  ['negative-steps', 4],
  ['misspelt-sampler', 4],
  ['misspelt-key', 4],
  ['non-integer-seed', 3],
  ['string-guidance', 4],
  ['nonsense-aspect', 6],
  ['missing-lora', 7],
];

describe('imgprompt check', () => {
  for (const [name, line] of BROKEN) {
    test(`${name}: exits 1 and names the file at line ${line}`, async () => {
      const file = `${scenes}/${name}.imgprompt`;
      const { code, out } = await run(['check', ...modelPath, file]);
      assert.equal(code, 1, out);
      assert.match(out, new RegExp(`^${file.replace(/[.]/g, '\\.')}:${line}:\\d+: error: `, 'm'));
    });
  }

  test('all broken scenes at once: one exit code, every file named', async () => {
    const { code, out, err } = await run(['check', ...modelPath, ...BROKEN.map(([n]) => `${scenes}/${n}.imgprompt`)]);
    assert.equal(code, 1);
    for (const [name, line] of BROKEN) assert.ok(out.includes(`${name}.imgprompt:${line}:`), name);
    assert.match(err, /checked 8 scenes: \d+ errors/);
  });

  test('the samples pass', async () => {
    // The samples use the real built-in model and its LoRAs (the fixture models hold configs only).
    const { code, out, err } = await run(['check', 'samples']);
    assert.equal(code, 0, out + err);
    const count = readdirSync(join(repo, 'samples')).filter((f) => f.endsWith('.imgprompt')).length;
    assert.ok(count >= 3);
    assert.match(err, new RegExp(`checked ${count} scenes: 0 errors`));
  });

  test('warnings alone exit 0', async () => {
    const { code, out } = await run(['check', ...modelPath, `${scenes}/large-size.imgprompt`]);
    assert.equal(code, 0);
    assert.match(out, /large-size\.imgprompt:5:1: warning: 288x192 is 3\.38× the area/);
  });

  test('--json gives machine-readable diagnostics', async () => {
    const { code, out } = await run(['check', '--json', ...modelPath, `${scenes}/misspelt-sampler.imgprompt`]);
    assert.equal(code, 1);
    const result = JSON.parse(out) as { files: { file: string; diagnostics: { code: string; range: { start: { line: number } } }[] }[]; errors: number };
    assert.equal(result.errors, 1);
    assert.equal(result.files[0].file, `${scenes}/misspelt-sampler.imgprompt`);
    assert.equal(result.files[0].diagnostics[0].code, 'unknown-value');
    assert.equal(result.files[0].diagnostics[0].range.start.line, 3);
  });

  test('a missing file is an error, bad usage exits 2', async () => {
    assert.equal((await run(['check', 'no/such.imgprompt'])).code, 1);
    assert.equal((await run(['check'])).code, 2);
    assert.equal((await run(['check', '--frobnicate', 'samples'])).code, 2);
  });
});

describe('imgprompt resolve', () => {
  test('0.03 MP at 16:9 on a tiny-shapes-like model: grid-aligned, within 15% of the budget and 6% of the aspect', async () => {
    const { code, out, err } = await run(['resolve', ...modelPath, `${scenes}/budget-16x9.imgprompt`]);
    assert.equal(code, 0, err);
    const r = JSON.parse(out) as { width: number; height: number; hash: string; seed: string; model: { ref: string } };
    assert.equal(r.width % 32, 0);
    assert.equal(r.height % 32, 0);
    assert.ok(Math.abs((r.width * r.height) / 30000 - 1) <= 0.15);
    assert.ok(Math.abs(r.width / r.height / (16 / 9) - 1) <= 0.06);
    assert.match(r.hash, /^[0-9a-f]{64}$/);
    assert.equal(r.model.ref, 'tiny-shapes');
    // 224x128 is 1.75x the native 128x128: a warning, on stderr.
    assert.match(err, /warning: 224x128 is 1\.75× the area/);
  });

  test('variants are listed with their own seeds, outputs and hashes', async () => {
    const { code, out } = await run(['resolve', ...modelPath, 'samples/seed-study.imgprompt']);
    assert.equal(code, 0);
    const r = JSON.parse(out) as { hash: string; variants: { seed: string; output: string; hash: string }[] };
    assert.deepEqual(r.variants.map((v) => v.seed), ['2', '3', '4']);
    assert.ok(r.variants[0].output.endsWith(join('samples', 'seed-study-2.png')));
    assert.equal(new Set([r.hash, ...r.variants.map((v) => v.hash)]).size, 4);
  });

  test('an invalid scene prints located errors and exits 1', async () => {
    const { code, out, err } = await run(['resolve', ...modelPath, `${scenes}/negative-steps.imgprompt`]);
    assert.equal(code, 1);
    assert.equal(out, '');
    assert.match(err, /negative-steps\.imgprompt:4:8: error: steps must be an integer from 1 to 1000; got -5/);
  });
});

describe('scene context of the CLI', () => {
  test('the package root and built-in models/ are found from the source tree (and from out/ when bundled)', () => {
    assert.equal(findPackageRoot(), repo);
    assert.equal(findPackageRoot(join(repo, 'out')), repo);
    assert.equal(builtinModelsDir(), join(repo, 'models'));
  });

  test('the project root is the nearest folder with .git, else the scene folder (never the working directory)', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'imgprompt-root-'));
    try {
      mkdirSync(join(tmp, 'proj', '.git'), { recursive: true });
      mkdirSync(join(tmp, 'proj', 'docs', 'figs'), { recursive: true });
      mkdirSync(join(tmp, 'loose', 'figs'), { recursive: true });
      assert.equal(findProjectRoot(join(tmp, 'proj', 'docs', 'figs', 'a.imgprompt')), join(tmp, 'proj'));
      assert.equal(findProjectRoot(join(tmp, 'loose', 'figs', 'a.imgprompt')), join(tmp, 'loose', 'figs'));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
