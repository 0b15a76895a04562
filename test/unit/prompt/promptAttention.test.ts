// Prompt emphasis parsing against AUTOMATIC1111's own published examples (the doctests of
// parse_prompt_attention in modules/prompt_parser.py: inputs and expected outputs, the floats exactly as
// Python prints them), then the rules those examples do not show, each as A1111's code decides it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../../src/engine/errors';
import { BREAK_WEIGHT, hasEmphasis, isBreak, MAX_BRACKET_DEPTH, parsePromptAttention } from '../../../src/engine/prompt';

const pairs = (text: string): [string, number][] => parsePromptAttention(text).map((f) => [f.text, f.weight]);

describe('parsePromptAttention: A1111 docstring examples', () => {
  const examples: [string, [string, number][]][] = [
    ['normal text', [['normal text', 1.0]]],
    ['an (important) word', [['an ', 1.0], ['important', 1.1], [' word', 1.0]]],
    ['(unbalanced', [['unbalanced', 1.1]]],
    ['\\(literal\\]', [['(literal]', 1.0]]],
    ['(unnecessary)(parens)', [['unnecessaryparens', 1.1]]],
    [
      'a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).',
      [
        ['a ', 1.0],
        ['house', 1.5730000000000004],
        [' ', 1.1],
        ['on', 1.0],
        [' a ', 1.1],
        ['hill', 0.55],
        [', sun, ', 1.1],
        ['sky', 1.4641000000000006],
        ['.', 1.1],
      ],
    ],
  ];
  for (const [input, expected] of examples) {
    test(JSON.stringify(input), () => assert.deepStrictEqual(pairs(input), expected));
  }
});

describe('parsePromptAttention: the rest of the rule', () => {
  test('[word] divides by 1.1 (the double 1/1.1), nesting multiplies', () => {
    assert.deepStrictEqual(pairs('[a]'), [['a', 1 / 1.1]]);
    assert.deepStrictEqual(pairs('[[a]]'), [['a', (1 / 1.1) * (1 / 1.1)]]);
    assert.deepStrictEqual(pairs('((a))'), [['a', 1.1 * 1.1]]);
  });

  test('an explicit weight: spaces around the number, signs, leading and trailing dots', () => {
    assert.deepStrictEqual(pairs('(a:1.5)'), [['a', 1.5]]);
    assert.deepStrictEqual(pairs('(a: 1.5 )'), [['a', 1.5]]);
    assert.deepStrictEqual(pairs('(a:-1)'), [['a', -1]]);
    assert.deepStrictEqual(pairs('(a:.5)'), [['a', 0.5]]);
    assert.deepStrictEqual(pairs('(a:+2.)'), [['a', 2]]);
    assert.deepStrictEqual(pairs('x (a:0) y'), [['x ', 1], ['a', 0], [' y', 1]]);
  });

  test('a weight without an open round bracket, a colon without a weight, and stray closers are text', () => {
    assert.deepStrictEqual(pairs('a:1.5) b'), [['a:1.5) b', 1]]);
    assert.deepStrictEqual(pairs('ratio 16:9, style: flat'), [['ratio 16:9, style: flat', 1]]);
    assert.deepStrictEqual(pairs('a) b] c'), [['a) b] c', 1]]);
    assert.deepStrictEqual(pairs('(a:b)'), [['a:b', 1.1]]);
  });

  test('a weight float() would refuse stays text (A1111 stops with an error there)', () => {
    assert.deepStrictEqual(pairs('(a:1.2.3)'), [['a:1.2.3', 1.1]]);
    assert.deepStrictEqual(pairs('(a:1.2.3) b'), [['a:1.2.3', 1.1], [' b', 1]]);
    assert.deepStrictEqual(pairs('(a:.)'), [['a:.', 1.1]]);
  });

  test('escapes: \\( \\) \\[ \\] \\\\ are the characters; a lone backslash is dropped', () => {
    assert.deepStrictEqual(pairs('\\(a\\) \\[b\\] c\\\\d'), [['(a) [b] c\\d', 1]]);
    assert.deepStrictEqual(pairs('a\\b'), [['ab', 1]]);
    assert.deepStrictEqual(pairs('(a\\)b)'), [['a)b', 1.1]]);
  });

  test('unclosed brackets: all round ones apply before the square ones, each to the end', () => {
    assert.deepStrictEqual(pairs('a [b (c'), [['a ', 1], ['b ', 1 / 1.1], ['c', 1.1 * (1 / 1.1)]]);
  });

  test('BREAK: a whole word outside brackets becomes the marker, with the spaces around it', () => {
    const parsed = parsePromptAttention('a cat BREAK  a dog');
    assert.deepStrictEqual(parsed.map((f) => [f.text, f.weight]), [['a cat', 1], ['BREAK', BREAK_WEIGHT], ['a dog', 1]]);
    assert.ok(isBreak(parsed[1]));
    assert.deepStrictEqual(pairs('BREAKFAST, xBREAK, BREAK_1'), [['BREAKFAST, xBREAK, BREAK_1', 1]]);
    assert.deepStrictEqual(pairs('a BREAK'), [['a', 1], ['BREAK', -1], ['', 1]]);
    // In brackets the marker's weight is multiplied too, and A1111 then reads it as the word.
    const inside = parsePromptAttention('(a BREAK b)');
    assert.deepStrictEqual(inside.map((f) => [f.text, f.weight]), [['a', 1.1], ['BREAK', -1.1], ['b', 1.1]]);
    assert.ok(!inside.some(isBreak));
  });

  test('empty prompt and plain prompts', () => {
    assert.deepStrictEqual(pairs(''), [['', 1]]);
    assert.deepStrictEqual(pairs('()'), [['', 1]]);
    assert.equal(hasEmphasis(parsePromptAttention('a red circle, 16:9')), false);
    assert.equal(hasEmphasis(parsePromptAttention('a (red) circle')), true);
    assert.equal(hasEmphasis(parsePromptAttention('a BREAK b')), true);
  });

  test('work is bounded: a megabyte of colons, spaces and brackets at the depth limit parses within seconds, not minutes', () => {
    const open = '('.repeat(MAX_BRACKET_DEPTH);
    const text = `${open}${'a: '.repeat(150_000)}${')'.repeat(MAX_BRACKET_DEPTH)}${':   (x'.repeat(100)}${': \\( '.repeat(100_000)}`;
    const began = performance.now();
    parsePromptAttention(text.slice(0, 1024 * 1024));
    assert.ok(performance.now() - began < 3000, 'took more than 3 s');
  });

  test('more brackets open at once than MAX_BRACKET_DEPTH is an InputError naming the fix', () => {
    assert.doesNotThrow(() => parsePromptAttention(`${'['.repeat(MAX_BRACKET_DEPTH)}a`));
    assert.throws(() => parsePromptAttention(`${'('.repeat(MAX_BRACKET_DEPTH + 1)}a`), (e: Error) => e instanceof InputError && /more than 128 '\(' brackets.*\\\(/.test(e.message));
  });
});
