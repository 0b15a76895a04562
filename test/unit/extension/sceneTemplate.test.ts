// New scenes must check clean, whatever the name and prompt; names that cannot be files are refused.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { parseScene } from '../../../src/engine/scene/parseScene';
import { checkSceneName, randomSeed, sceneBaseName, sceneTemplate, slugify, yamlScalar } from '../../../src/extension/language/sceneTemplate';

describe('sceneTemplate', () => {
  test('parses without a single diagnostic and carries name, prompt and seed', () => {
    const text = sceneTemplate({ name: 'overview', prompt: 'a red circle', seed: 123456 });
    const parsed = parseScene(text);
    assert.deepEqual(parsed.diagnostics, []);
    assert.equal(parsed.scene.prompt, 'a red circle');
    assert.equal(parsed.scene.seed, 123456n);
    assert.equal(parsed.scene.output, 'overview.png');
    assert.equal(parsed.scene.model, 'tiny-shapes');
  });

  test('prompts and names that need quoting survive the round trip', () => {
    for (const prompt of ['ratio: 16:9 # not a comment', '- a list?', '"quoted"', 'true', '42', 'café, naïve', '  padded  ', '[brackets]', '@at', "it's"]) {
      const parsed = parseScene(sceneTemplate({ name: 'x', prompt, seed: 1 }));
      assert.deepEqual(parsed.diagnostics, [], prompt);
      assert.equal(parsed.scene.prompt, prompt.trim(), prompt);
    }
    assert.equal(parseScene(sceneTemplate({ name: '#1 figure', seed: 2 })).scene.output, '#1 figure.png');
  });

  test('yamlScalar leaves plain text plain', () => {
    assert.equal(yamlScalar('a red circle'), 'a red circle');
    assert.equal(yamlScalar('assets/hint.png'), 'assets/hint.png');
    for (const s of ['a: b', 'yes', '1.5', '', ' x', 'x #y', '*star']) assert.equal(parse(`v: ${yamlScalar(s)}`).v, s, s);
  });

  test('scene names', () => {
    assert.equal(checkSceneName('overview'), undefined);
    assert.equal(checkSceneName('Figure 1 — pipeline'), undefined);
    assert.match(checkSceneName('') ?? '', /Give the scene a name/);
    assert.match(checkSceneName('a/b') ?? '', /cannot contain/);
    assert.match(checkSceneName('.hidden') ?? '', /cannot start with a dot/);
    assert.equal(sceneBaseName(' chart.imgprompt '), 'chart');
  });

  test('slugify and randomSeed', () => {
    assert.equal(slugify('A red circle, above a blue square!'), 'a-red-circle-above-a-blue-square');
    assert.equal(slugify('Café naïve'), 'cafe-naive');
    assert.equal(slugify('!!!'), 'figure');
    assert.equal(slugify('x'.repeat(60)).length, 40);
    assert.equal(randomSeed(() => 0), 100000);
    assert.equal(randomSeed(() => 0.9999999), 999999);
  });
});
