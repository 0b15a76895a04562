// Word diff of prompts and the field-by-field recipe diff.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { recipeDiff } from '../../../src/engine/diff/recipeDiff';
import { tokenizeWords, wordDiff, type WordDiffSegment } from '../../../src/engine/diff/wordDiff';

const join = (segments: readonly WordDiffSegment[], keep: 'added' | 'removed') => segments.filter((s) => s.kind === 'same' || s.kind === keep).map((s) => s.text).join('');

describe('wordDiff', () => {
  test('tokens join back into the text', () => {
    const text = 'a red circle, (blue:1.2) square  on white.';
    assert.equal(tokenizeWords(text).join(''), text);
    assert.deepEqual(tokenizeWords('red, blue'), ['red', ',', ' ', 'blue']);
  });

  test('one word replaced', () => {
    assert.deepEqual(wordDiff('a red circle', 'a blue circle'), [
      { kind: 'same', text: 'a ' },
      { kind: 'removed', text: 'red' },
      { kind: 'added', text: 'blue' },
      { kind: 'same', text: ' circle' },
    ]);
  });

  test('words appended after a comma', () => {
    assert.deepEqual(wordDiff('flat vector illustration', 'flat vector illustration, soft shadows'), [
      { kind: 'same', text: 'flat vector illustration' },
      { kind: 'added', text: ', soft shadows' },
    ]);
  });

  test('both sides are reconstructed exactly', () => {
    const before = 'a red circle above a blue square, flat vector illustration';
    const after = 'a green circle beside a blue square, flat illustration, soft shadows';
    const d = wordDiff(before, after);
    assert.equal(join(d, 'removed'), before);
    assert.equal(join(d, 'added'), after);
    // "red"→"green", "above"→"beside", "vector " removed, ", soft shadows" added.
    assert.deepEqual(d.filter((s) => s.kind === 'removed').map((s) => s.text.trim()), ['red', 'above', 'vector']);
  });

  test('empty sides', () => {
    assert.deepEqual(wordDiff('', 'new words'), [{ kind: 'added', text: 'new words' }]);
    assert.deepEqual(wordDiff('old', ''), [{ kind: 'removed', text: 'old' }]);
    assert.deepEqual(wordDiff('', ''), []);
  });
});

describe('recipeDiff', () => {
  const base = {
    format: 'imgprompt/1',
    scene: 'a.imgprompt',
    model: { name: 'tiny-shapes', hash: 'sha256:aaa', shortHash: 'aaa' },
    prompt: 'a red circle',
    negative: '',
    seed: '1234',
    sampler: 'euler_a',
    steps: 12,
    loras: [{ file: 'style.safetensors', weight: 0.8, hash: 'sha256:l1' }],
    hash: 'h1',
    engine: { version: '0.1.0', onnxruntime: '1.30.0' },
  };

  test('prompt as a word diff, seed, steps, LoRA weight and model hash; ignored fields left out', () => {
    const after = {
      ...base,
      prompt: 'a blue circle',
      seed: '7',
      steps: 20,
      model: { name: 'tiny-shapes', hash: 'sha256:bbb', shortHash: 'bbb' },
      loras: [{ file: 'style.safetensors', weight: 0.5, hash: 'sha256:l1' }],
      hash: 'h2',
      engine: { version: '0.1.0', onnxruntime: '1.31.0' },
    };
    const d = recipeDiff(base, after);
    assert.deepEqual(d.map((c) => c.field), ['loras[0].weight', 'model.hash', 'prompt', 'seed', 'steps']);
    const prompt = d.find((c) => c.field === 'prompt');
    assert.deepEqual(prompt?.words, [
      { kind: 'same', text: 'a ' },
      { kind: 'removed', text: 'red' },
      { kind: 'added', text: 'blue' },
      { kind: 'same', text: ' circle' },
    ]);
    assert.deepEqual(d.find((c) => c.field === 'loras[0].weight'), { field: 'loras[0].weight', before: '0.8', after: '0.5' });
    assert.equal(d.find((c) => c.field === 'seed')?.words, undefined);
  });

  test('equal recipes have no differences', () => {
    assert.deepEqual(recipeDiff(base, structuredClone(base)), []);
  });
});
