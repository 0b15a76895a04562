// The TextMate grammar (syntaxes/imgprompt.tmLanguage.json) run through VS Code's own tokeniser:
// keys, prompt text, paths, sampler/schedule names, numbers, comments and block scalars get the scopes
// themes colour, and prompt text never takes a key's or a number's scope.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tokenize, type Token } from './grammarTokenizer';

/** The tokens of `line` that `text` covers (the first occurrence); fails when `text` is not a token run. */
function tokensOf(tokens: Token[], line: number, text: string): Token[] {
  const lineTokens = tokens.filter((t) => t.line === line);
  const lineText = lineTokens.map((t) => t.text).join('');
  const start = lineText.indexOf(text);
  assert.ok(start >= 0, `line ${line} ${JSON.stringify(lineText)} does not contain ${JSON.stringify(text)}`);
  const covered: Token[] = [];
  let offset = 0;
  for (const token of lineTokens) {
    const end = offset + token.text.length;
    if (end > start && offset < start + text.length) covered.push(token);
    offset = end;
  }
  return covered;
}

/** Asserts every token covering `text` on `line` carries `scope` (and, when given, none carries `not`). */
async function expectScope(source: string, line: number, text: string, scope: string, not?: string): Promise<void> {
  const tokens = await tokenize(source);
  for (const token of tokensOf(tokens, line, text)) {
    if (token.text.trim() === '') continue;
    const where = `${JSON.stringify(token.text)} in ${JSON.stringify(source.split('\n')[line])}`;
    assert.ok(token.scopes.includes(scope), `${where}: expected ${scope}, got ${token.scopes.join(' ')}`);
    if (not) assert.ok(!token.scopes.some((s) => s.startsWith(not)), `${where}: unexpected ${not} in ${token.scopes.join(' ')}`);
  }
}

describe('imgprompt grammar: keys', () => {
  test('known scene keys are property names, unknown keys property names of another kind', async () => {
    for (const key of ['model', 'seed', 'size', 'steps', 'guidance', 'loras', 'control', 'init', 'output', 'variants']) {
      await expectScope(`${key}: x`, 0, key, 'support.type.property-name.imgprompt');
    }
    await expectScope('colour: red', 0, 'colour', 'support.type.property-name.other.imgprompt');
    await expectScope('models: x', 0, 'models', 'support.type.property-name.other.imgprompt');
    await expectScope('seed: 1', 0, ':', 'punctuation.separator.key-value.mapping.imgprompt');
  });

  test('keys inside list items and flow mappings', async () => {
    const source = 'loras:\n  - file: a.safetensors\n    weight: 0.8\nsize: {megapixels: 0.25, aspect: "3:2"}';
    await expectScope(source, 1, '-', 'punctuation.definition.block.sequence.item.imgprompt');
    await expectScope(source, 1, 'file', 'support.type.property-name.imgprompt');
    await expectScope(source, 2, 'weight', 'support.type.property-name.imgprompt');
    await expectScope(source, 3, 'megapixels', 'support.type.property-name.imgprompt');
    await expectScope(source, 3, 'aspect', 'support.type.property-name.imgprompt');
  });
});

describe('imgprompt grammar: prompt text', () => {
  test('plain prompt text is prompt-scoped, commas and colons included, a trailing comment is not', async () => {
    const source = 'prompt: a red circle, style: flat, 8k # draft';
    await expectScope(source, 0, 'a red circle, style: flat, 8k', 'string.unquoted.prompt.imgprompt', 'support.type.property-name');
    await expectScope(source, 0, '8k', 'string.unquoted.prompt.imgprompt', 'constant.numeric');
    await expectScope(source, 0, '# draft', 'comment.line.number-sign.imgprompt');
  });

  test('negative and purpose are prompt text too; a # inside a word is text', async () => {
    await expectScope('negative: blurry, low#quality', 0, 'blurry, low#quality', 'string.unquoted.prompt.imgprompt');
    await expectScope('purpose: shows the layout', 0, 'shows the layout', 'string.unquoted.prompt.imgprompt');
  });

  test('quoted prompts with escapes', async () => {
    const source = 'prompt: "a \\"neon\\" sign"';
    await expectScope(source, 0, 'a ', 'string.quoted.double.prompt.imgprompt');
    await expectScope(source, 0, '\\"', 'constant.character.escape.imgprompt');
    await expectScope("negative: 'it''s dark'", 0, "it''s dark", 'string.quoted.single.prompt.imgprompt');
  });

  test('block scalars | and > continue over more indented lines and blank lines, then stop', async () => {
    for (const indicator of ['|', '>', '|-', '>+']) {
      const source = `prompt: ${indicator}\n  a red circle\n    seed: 5 # still text\n\n  more\nseed: 42`;
      await expectScope(source, 0, indicator, 'keyword.control.flow.block-scalar.imgprompt');
      await expectScope(source, 1, 'a red circle', 'string.unquoted.block.prompt.imgprompt');
      await expectScope(source, 2, 'seed: 5 # still text', 'string.unquoted.block.prompt.imgprompt', 'comment');
      await expectScope(source, 4, 'more', 'string.unquoted.block.prompt.imgprompt');
      await expectScope(source, 5, 'seed', 'support.type.property-name.imgprompt', 'string');
      await expectScope(source, 5, '42', 'constant.numeric.integer.imgprompt');
    }
  });

  test('a block scalar nested under a key ends at the next key of its level', async () => {
    const source = 'variants:\n  purpose: >\n    why\n  seeds: [1]';
    await expectScope(source, 2, 'why', 'string.unquoted.block.prompt.imgprompt');
    await expectScope(source, 3, 'seeds', 'support.type.property-name.imgprompt', 'string');
  });

  test('a block scalar in a list item continues past the dash column only', async () => {
    const source = 'control:\n  - purpose: |\n      edge map\n    type: canny';
    await expectScope(source, 2, 'edge map', 'string.unquoted.block.prompt.imgprompt');
    await expectScope(source, 3, 'type', 'support.type.property-name.imgprompt', 'string');
    await expectScope(source, 3, 'canny', 'constant.language.control-type.imgprompt');
  });

  test('a plain prompt continues on more indented lines', async () => {
    const source = 'prompt: a red circle\n  on a blue square\nseed: 1';
    await expectScope(source, 1, 'on a blue square', 'string.unquoted.prompt.imgprompt');
    await expectScope(source, 2, 'seed', 'support.type.property-name.imgprompt');
  });
});

describe('imgprompt grammar: values', () => {
  test('paths after model, file, image and output', async () => {
    await expectScope('model: tiny-shapes', 0, 'tiny-shapes', 'string.unquoted.path.imgprompt');
    await expectScope('output: out/figure 1.png # here', 0, 'out/figure 1.png', 'string.unquoted.path.imgprompt');
    await expectScope('control:\n  - image: hints/edges.png', 1, 'hints/edges.png', 'string.unquoted.path.imgprompt');
    await expectScope('loras:\n  - file: loras/ink.safetensors', 1, 'loras/ink.safetensors', 'string.unquoted.path.imgprompt');
    await expectScope('model: "models/my model"', 0, 'models/my model', 'string.quoted.double.imgprompt');
  });

  test('known samplers, schedules and control types are constants; misspellings are not', async () => {
    for (const sampler of ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'lcm']) {
      await expectScope(`sampler: ${sampler}`, 0, sampler, 'constant.language.sampler.imgprompt');
    }
    for (const schedule of ['normal', 'karras']) {
      await expectScope(`schedule: ${schedule}`, 0, schedule, 'constant.language.schedule.imgprompt');
    }
    await expectScope('sampler: eular_a', 0, 'eular_a', 'string.unquoted.imgprompt', 'constant');
    await expectScope('sampler: euler_ancestral', 0, 'euler_ancestral', 'string.unquoted.imgprompt', 'constant');
    await expectScope('schedule: karras2', 0, 'karras2', 'string.unquoted.imgprompt', 'constant');
    await expectScope('sampler: ddim # fast', 0, 'ddim', 'constant.language.sampler.imgprompt');
    // A sampler name elsewhere is not a sampler.
    await expectScope('prompt: euler', 0, 'euler', 'string.unquoted.prompt.imgprompt', 'constant');
  });

  test('numbers: integers, floats, exponents, signs; flow sequences of seeds', async () => {
    await expectScope('seed: 18446744073709551615', 0, '18446744073709551615', 'constant.numeric.integer.imgprompt');
    await expectScope('guidance: 7.5', 0, '7.5', 'constant.numeric.float.imgprompt');
    await expectScope('weight: -0.25', 0, '-0.25', 'constant.numeric.float.imgprompt');
    await expectScope('megapixels: 1e-1', 0, '1e-1', 'constant.numeric.float.imgprompt');
    await expectScope('seed: 1e3', 0, '1e3', 'constant.numeric.float.imgprompt');
    await expectScope('steps: 20x', 0, '20x', 'string.unquoted.imgprompt', 'constant');
    const seeds = 'variants:\n  seeds: [1, 2, 30]';
    await expectScope(seeds, 1, '[', 'punctuation.definition.sequence.begin.imgprompt');
    await expectScope(seeds, 1, '30', 'constant.numeric.integer.imgprompt');
    await expectScope(seeds, 1, ',', 'punctuation.separator.sequence.imgprompt');
  });

  test('comments, and a # without a space before it is not one', async () => {
    await expectScope('# a scene', 0, '# a scene', 'comment.line.number-sign.imgprompt');
    await expectScope('  # indented', 0, '# indented', 'comment.line.number-sign.imgprompt');
    await expectScope('steps: 20 # few', 0, '# few', 'comment.line.number-sign.imgprompt');
    await expectScope('output: a#b.png', 0, 'a#b.png', 'string.unquoted.path.imgprompt', 'comment');
  });

  test('every line of a full scene is tokenised without an unscoped key', async () => {
    const scene = [
      'model: tiny-shapes', 'prompt: a red circle', 'negative: blur', 'seed: 7', 'size: {megapixels: 0.03, aspect: "16:9"}',
      'sampler: euler_a', 'schedule: karras', 'steps: 8', 'guidance: 3', 'rng: cpu', 'precision: int8', 'output: fig.png', 'purpose: docs',
    ].join('\n');
    const tokens = await tokenize(scene);
    for (let line = 0; line < 13; line++) {
      const first = tokens.find((t) => t.line === line);
      assert.ok(first?.scopes.includes('support.type.property-name.imgprompt'), `line ${line}: ${first?.text} ${first?.scopes.join(' ')}`);
    }
  });
});
