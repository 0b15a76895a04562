// parseScene: typed values, exact ranges, did-you-mean, and that it never throws.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { didYouMean, editDistance, parseScene, SEED_MAX } from '../../../src/engine/index';

function only(text: string) {
  const { diagnostics } = parseScene(text);
  assert.equal(diagnostics.length, 1, JSON.stringify(diagnostics));
  return diagnostics[0];
}

describe('parseScene', () => {
  test('reads every key into typed values', () => {
    const { scene, diagnostics } = parseScene(
      [
        'model: tiny-shapes',
        'prompt: a red circle',
        'negative: blurry',
        'seed: 18446744073709551615',
        'size: {megapixels: 0.03, aspect: "16:9"}',
        'sampler: euler_a',
        'schedule: karras',
        'steps: 12',
        'guidance: 6.5',
        'loras: [{file: a.safetensors, weight: -0.5}]',
        'control: [{type: scribble, image: h.png, end: 0.5}]',
        'init: {image: i.png}',
        'rng: cpu',
        'output: figs/x.png',
        'variants: {seeds: [3, 0x10]}',
        'purpose: Explains things.',
      ].join('\n'),
    );
    assert.deepEqual(diagnostics, []);
    assert.equal(scene.seed, SEED_MAX);
    assert.deepEqual(scene.size, { kind: 'budget', megapixels: 0.03, aspect: 16 / 9 });
    assert.equal(scene.sampler, 'euler_a');
    assert.equal(scene.steps, 12);
    assert.deepEqual(scene.loras, [{ file: 'a.safetensors', weight: -0.5 }]);
    assert.deepEqual(scene.control, [{ type: 'scribble', image: 'h.png', end: 0.5 }]);
    assert.deepEqual(scene.init, { image: 'i.png' });
    assert.deepEqual(scene.variants, [3n, 16n]);
    assert.equal(scene.purpose, 'Explains things.');
  });

  test('init takes an inpainting mask path beside image and strength', () => {
    const { scene, diagnostics } = parseScene('prompt: x\ninit: {image: i.png, mask: m.png, strength: 1}\n');
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(scene.init, { image: 'i.png', mask: 'm.png', strength: 1 });
    const wrong = parseScene('prompt: x\ninit: {image: i.png, mask: 3}\n');
    assert.equal(wrong.scene.init, undefined);
    assert.deepEqual(wrong.diagnostics.map((d) => d.code), ['wrong-type']);
    assert.match(wrong.diagnostics[0].message, /init\.mask must be a path to the mask image/);
  });

  test('seeds beyond 2^53 stay exact', () => {
    // 2^53 + 1 is the first integer a double cannot hold.
    assert.equal(parseScene('prompt: x\nseed: 9007199254740993').scene.seed, 9007199254740993n);
  });

  test('a misspelt sampler is reported at its value with a suggestion and the allowed list', () => {
    const d = only('prompt: x\nsampler: eular_a\n');
    assert.equal(d.code, 'unknown-value');
    assert.deepEqual(d.range, { start: { line: 1, character: 9 }, end: { line: 1, character: 16 } });
    assert.equal(d.message, "unknown sampler 'eular_a'; did you mean 'euler_a'? allowed: euler, euler_a, ddim, dpmpp_2m, lcm");
  });

  test('a misspelt key is reported at the key', () => {
    const d = only('prompt: x\n  # comment\nsede: 4\n');
    assert.equal(d.code, 'unknown-key');
    assert.deepEqual(d.range.start, { line: 2, character: 0 });
    assert.match(d.message, /did you mean 'seed'\?/);
  });

  test('columns count UTF-16 code units, as editors do', () => {
    const d = only('prompt: "🟥 square"\nsteps: many\n'.replace('\n', '\r\n'));
    assert.deepEqual(d.range, { start: { line: 1, character: 7 }, end: { line: 1, character: 11 } });
  });

  test('numbers in quotes are wrong types with a hint; numbers as text need quotes', () => {
    assert.match(only('prompt: x\nguidance: "7.5"').message, /got the text '7\.5' \(remove the quotes\)/);
    assert.match(only('prompt: 42').message, /prompt must be text; got 42 \(put it in quotes\)/);
  });

  test('seed errors name the value and the allowed range', () => {
    assert.equal(only('prompt: x\nseed: 1.5').code, 'not-integer');
    assert.equal(only('prompt: x\nseed: -3').code, 'out-of-range');
    assert.equal(only('prompt: x\nseed: 18446744073709551616').code, 'out-of-range');
    assert.match(only('prompt: x\nseed: 1e30').message, /plain digits/);
    assert.match(only('prompt: x\nseed: "12"').message, /seed must be an integer from 0 to 18446744073709551615; got the text '12'/);
  });

  test('aspects: ratios and numbers in range; anything else is located', () => {
    assert.equal(parseScene('prompt: x\nsize: {aspect: 2.39:1}').scene.size?.kind, 'budget');
    assert.equal(parseScene('prompt: x\nsize: {aspect: 0.5}').diagnostics.length, 0);
    for (const bad of ['"16x9"', 'wide', '"0:1"', '20', '"1:9"', '-1']) {
      assert.equal(only(`prompt: x\nsize: {aspect: ${bad}}`).code, 'bad-aspect', bad);
    }
  });

  test('every problem is reported at once, in source order', () => {
    const { diagnostics } = parseScene('prompt: x\nsteps: -1\nguidance: high\nsampler: nope\nfoo: 1\n');
    assert.deepEqual(diagnostics.map((d) => d.range.start.line), [1, 2, 3, 4]);
  });

  test('YAML syntax errors stop the scene checks (no misleading follow-on errors)', () => {
    const { diagnostics } = parseScene('prompt: a red circle\n  seed: 7\nsteps: -1\n');
    assert.ok(diagnostics.length >= 1);
    assert.ok(diagnostics.every((d) => d.code === 'yaml-syntax'), JSON.stringify(diagnostics));
    // Reported at the over-indented line itself, from its first non-blank character.
    assert.deepEqual(diagnostics[0].range.start, { line: 1, character: 2 });
  });

  test('duplicate keys name the key and do not hide other errors', () => {
    const { diagnostics } = parseScene('prompt: x\nsteps: 0\nprompt: y\n');
    assert.deepEqual(diagnostics.map((d) => d.code), ['out-of-range', 'duplicate-key']);
    assert.match(diagnostics[1].message, /'prompt'/);
  });

  test('aliases resolve; unknown anchors are errors', () => {
    assert.equal(parseScene('prompt: &p hello\nnegative: *p').scene.negative, 'hello');
    assert.equal(only('prompt: *nothing').code, 'yaml-syntax');
  });

  test('an empty document and a non-mapping are single clear errors', () => {
    assert.equal(only('').code, 'empty-scene');
    assert.equal(only('# just a comment\n').code, 'empty-scene');
    assert.equal(only('just text').code, 'wrong-type');
  });

  test('required nested keys are reported at their parent', () => {
    const d = only('prompt: x\nloras:\n  - weight: 1\n');
    assert.equal(d.code, 'missing-key');
    assert.match(d.message, /loras\[0\] needs 'file'/);
    assert.equal(d.range.start.line, 2);
  });
});

describe('didYouMean', () => {
  test('edit distance counts transpositions once', () => {
    assert.equal(editDistance('smapler', 'sampler'), 1);
    assert.equal(editDistance('eular_a', 'euler_a'), 1);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });

  test('suggests only plausible typos or unique completions', () => {
    assert.equal(didYouMean('karas', ['normal', 'karras']), 'karras');
    assert.equal(didYouMean('dpm', ['euler', 'dpmpp_2m']), 'dpmpp_2m');
    assert.equal(didYouMean('colour', ['model', 'prompt', 'seed']), undefined);
    assert.equal(didYouMean('SEED', ['seed']), 'seed');
  });
});
