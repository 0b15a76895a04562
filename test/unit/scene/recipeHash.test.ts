// The canonical recipe and its hash: same pixels, same hash; any pixel-affecting change, another hash.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { canonicalJson, recipeHash, resolveScene, SceneError, type Recipe } from '../../../src/engine/index';

const fixtures = resolve(__dirname, '../../fixtures');

function resolveIn(root: string, text: string): Recipe {
  const scenes = join(root, 'scenes');
  return resolveScene(text, { file: join(scenes, 'figure.imgprompt'), projectRoot: scenes, modelSearchPaths: [join(root, 'models')] }).recipe;
}

const hashOf = (text: string) => recipeHash(resolveIn(fixtures, text));

const BASE = `model: tiny-shapes
prompt: a red circle on a blue background
negative: blurry
seed: 42
size: {width: 160, height: 96}
sampler: euler
schedule: normal
steps: 20
guidance: 4
loras: [{file: assets/style.safetensors, weight: 0.5}]
control: [{type: canny, image: assets/hint.png}]
init: {image: assets/start.png, strength: 0.5}
purpose: Shows a circle.
`;

describe('recipe hash', () => {
  const base = hashOf(BASE);

  test('is a sha256 hex digest', () => {
    assert.match(base, /^[0-9a-f]{64}$/);
  });

  test('different spellings of the same scene hash the same', () => {
    const spellings = [
      // comments, blank lines, quoting and block styles
      `# A figure\n\n${BASE.replace('prompt: a red circle on a blue background', 'prompt: "a red circle on a blue background"  # inline')}`,
      BASE.replace('prompt: a red circle on a blue background', 'prompt: >\n  a red   circle\n  on a blue background'),
      // key order
      BASE.split('\n').reverse().join('\n'),
      // number spellings
      BASE.replace('seed: 42', 'seed: 0x2A').replace('guidance: 4', 'guidance: 4.00').replace('steps: 20', 'steps: 20.0'),
      // block instead of flow collections
      BASE.replace('size: {width: 160, height: 96}', 'size:\n  height: 96\n  width: 160'),
      // defaults written out or left out (control strength/start/end, rng)
      BASE.replace('control: [{type: canny, image: assets/hint.png}]', 'control:\n  - {type: canny, image: ./assets/hint.png, strength: 1, start: 0, end: 1.0}\nrng: cpu'),
      // the same size as a budget: 0.01536 MP at 5:3 is exactly 160x96 on the 32 px grid
      BASE.replace('size: {width: 160, height: 96}', 'size: {megapixels: 0.01536, aspect: "5:3"}'),
      // not pixel-affecting: purpose and output
      BASE.replace('purpose: Shows a circle.', 'purpose: Something else entirely.'),
      `${BASE}output: elsewhere/figure.png\n`,
      BASE.replace('purpose: Shows a circle.\n', ''),
    ];
    for (const text of spellings) assert.equal(hashOf(text), base, text);
  });

  test('every pixel-affecting change changes the hash', () => {
    const edits: [string, string][] = [
      ['prompt: a red circle on a blue background', 'prompt: a red circle on a green background'],
      ['negative: blurry', 'negative: noisy'],
      ['seed: 42', 'seed: 43'],
      ['size: {width: 160, height: 96}', 'size: {width: 96, height: 160}'],
      ['sampler: euler', 'sampler: euler_a'],
      ['schedule: normal', 'schedule: karras'],
      ['steps: 20', 'steps: 21'],
      ['guidance: 4', 'guidance: 4.5'],
      ['weight: 0.5', 'weight: 0.55'],
      ['type: canny', 'type: scribble'],
      ['image: assets/hint.png', 'image: assets/start.png'],
      ['strength: 0.5}', 'strength: 0.6}'],
      ['strength: 0.5}', 'strength: 0.5, mask: assets/hint.png}'],
      ['model: tiny-shapes', 'model: sd15\nsize: {width: 512, height: 512}'],
    ];
    const seen = new Set([base]);
    for (const [from, to] of edits) {
      let text = BASE.replace(from, to);
      if (to.includes('sd15')) text = text.replace('size: {width: 160, height: 96}\n', '');
      assert.notEqual(text, BASE, from);
      const h = hashOf(text);
      assert.ok(!seen.has(h), `${from} -> ${to} did not change the hash`);
      seen.add(h);
    }
  });

  test('content hashes, engine version and extra inputs enter the hash', () => {
    const recipe = resolveIn(fixtures, BASE);
    const lora = recipe.loras[0].path;
    const withContent = recipeHash(recipe, { contentHashes: { [lora]: 'aa' } });
    assert.notEqual(withContent, base);
    assert.notEqual(recipeHash(recipe, { contentHashes: { [lora]: 'bb' } }), withContent);
    assert.notEqual(recipeHash(recipe, { engineVersion: '99.0.0' }), base);
    assert.notEqual(recipeHash(recipe, { extra: { onnxruntime: '1.30.0' } }), base);
    // With a content hash, renaming the file (same bytes) keeps the hash.
    const renamed = { ...recipe, loras: [{ ...recipe.loras[0], ref: 'assets/renamed.safetensors' }] };
    assert.equal(recipeHash(renamed, { contentHashes: { [lora]: 'aa' } }), withContent);
  });

  test('the same project checked out in two places hashes the same', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'imgprompt-hash-'));
    try {
      for (const copy of ['a', 'b/deeper']) cpSync(join(fixtures, 'scenes', 'assets'), join(tmp, copy, 'scenes', 'assets'), { recursive: true });
      for (const copy of ['a', 'b/deeper']) cpSync(join(fixtures, 'models', 'tiny-shapes'), join(tmp, copy, 'models', 'tiny-shapes'), { recursive: true });
      const a = resolveIn(join(tmp, 'a'), BASE);
      const b = resolveIn(join(tmp, 'b/deeper'), BASE);
      assert.notEqual(a.loras[0].path, b.loras[0].path);
      assert.equal(recipeHash(a), recipeHash(b));
      assert.equal(recipeHash(a), base);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('resolveScene throws a SceneError carrying every diagnostic', () => {
    assert.throws(() => hashOf('prompt: x\nsteps: 0\nsampler: nope\n'), (e: unknown) => e instanceof SceneError && e.diagnostics.length === 2);
  });
});

describe('canonicalJson', () => {
  test('sorts keys at every level, drops undefined, rejects what JSON cannot hold', () => {
    assert.equal(canonicalJson({ b: 1, a: [{ d: -0, c: 'x' }], e: undefined }), '{"a":[{"c":"x","d":0}],"b":1}');
    assert.throws(() => canonicalJson({ a: Number.NaN }), TypeError);
    assert.throws(() => canonicalJson({ a: 1n }), TypeError);
  });
});
