// A tokenizer folder that ships only a Hugging Face tokenizer.json loads and tokenizes exactly as the same
// vocabulary given as vocab.json + merges.txt. The tokenizer.json files are converted here from the
// embedded model's and the hand-made fixture's vocab.json + merges.txt, laid out as the tokenizers library
// writes CLIP's (model.type "BPE", end_of_word_suffix "</w>", RobertaProcessing with the start and end
// tokens, added_tokens), with merges in both of its spellings: "a b" strings (tokenizers < 0.20) and
// ["a", "b"] pairs (0.20 and later).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelError } from '../../../src/engine/errors';
import { CLIPTokenizer, loadCLIPTokenizer } from '../../../src/engine/tokenizer';

const REPO = join(__dirname, '../../..');
const MODEL_TOKENIZER = join(REPO, 'models/tiny-shapes/tokenizer');
const FIXTURE = join(REPO, 'test/fixtures/tokenizer/tiny');
const REFERENCE = join(REPO, 'test/fixtures/reference/model/tokenizer.json');

type MergeStyle = 'strings' | 'pairs';

/** tokenizer.json for a vocab.json + merges.txt, with what `extra` adds at the top level. */
function toTokenizerJson(folder: string, merges: MergeStyle, extra: Record<string, unknown> = {}): string {
  const vocab = JSON.parse(readFileSync(join(folder, 'vocab.json'), 'utf8')) as Record<string, number>;
  const lines = readFileSync(join(folder, 'merges.txt'), 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const special = (content: string) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special('<|startoftext|>'), special('<|endoftext|>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: ['<|endoftext|>', vocab['<|endoftext|>']], cls: ['<|startoftext|>', vocab['<|startoftext|>']], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<|endoftext|>',
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: merges === 'strings' ? lines : lines.map((l) => l.split(' ')),
    },
    ...extra,
  });
}

const temp: string[] = [];
/** A tokenizer folder holding `files` (name → text); the configs of `configsFrom` are copied when given. */
function folder(files: Record<string, string>, configsFrom?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-tokenizer-json-'));
  temp.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  for (const name of ['tokenizer_config.json', 'special_tokens_map.json']) {
    if (configsFrom && existsSync(join(configsFrom, name))) copyFileSync(join(configsFrom, name), join(dir, name));
  }
  return dir;
}
after(() => temp.forEach((d) => rmSync(d, { recursive: true, force: true })));

const reference = existsSync(REFERENCE) ? (JSON.parse(readFileSync(REFERENCE, 'utf8')) as { cases: { text: string; ids: number[] }[] }) : { cases: [] };
const PROMPTS = [
  ...reference.cases.map((c) => c.text),
  'hello world',
  '  HELLO\t\n  World  ',
  "cat's We're 123 hello!!,",
  'cat &amp;amp; hello cat&#39;s',
  'Café CAFE\u0301 a\u0001b lllo z',
  '<|startoftext|>hello<|endoftext|>',
  'a large red circle on the left, blue background, '.repeat(8),
  '',
];

describe('tokenizer.json instead of vocab.json + merges.txt', () => {
  for (const merges of ['strings', 'pairs'] as const) {
    test(`the embedded model's vocabulary, merges as ${merges}: identical ids, lengths and specials`, async () => {
      const original = await loadCLIPTokenizer(MODEL_TOKENIZER);
      const converted = await loadCLIPTokenizer(folder({ 'tokenizer.json': toTokenizerJson(MODEL_TOKENIZER, merges) }, MODEL_TOKENIZER));
      assert.deepEqual([converted.bosId, converted.eosId, converted.padId, converted.unkId, converted.maxLength], [626, 627, 627, 627, 77]);
      for (const text of PROMPTS) {
        const [a, b] = [original.encodePrompt(text), converted.encodePrompt(text)];
        assert.deepEqual(b, a, JSON.stringify(text));
      }
      // And the Python reference ids themselves (tools/tiny_model/make_fixtures.py).
      for (const c of reference.cases) assert.deepEqual(converted.encodePrompt(c.text).ids, c.ids, JSON.stringify(c.text));
      assert.ok(reference.cases.length >= 10, 'the reference cases were read');
    });

    test(`the hand-made fixture, merges as ${merges}: identical ids with its configs`, async () => {
      const original = await loadCLIPTokenizer(FIXTURE);
      const converted = await loadCLIPTokenizer(folder({ 'tokenizer.json': toTokenizerJson(FIXTURE, merges) }, FIXTURE));
      assert.deepEqual([converted.padId, converted.maxLength], [0, 8]);
      for (const text of PROMPTS) assert.deepEqual(converted.encodePrompt(text), original.encodePrompt(text), JSON.stringify(text));
    });
  }

  test('without tokenizer_config.json: padding, truncation and the post-processor state pad token, length and specials', async () => {
    const original = await loadCLIPTokenizer(FIXTURE);
    const text = toTokenizerJson(FIXTURE, 'pairs', { padding: { strategy: 'BatchLongest', direction: 'Right', pad_to_multiple_of: null, pad_id: 0, pad_type_id: 0, pad_token: '!' }, truncation: { direction: 'Right', max_length: 8, strategy: 'LongestFirst', stride: 0 } });
    const converted = await loadCLIPTokenizer(folder({ 'tokenizer.json': text }));
    assert.deepEqual([converted.bosId, converted.eosId, converted.padId, converted.maxLength], [30, 31, 0, 8]);
    for (const prompt of PROMPTS) assert.deepEqual(converted.encodePrompt(prompt).ids, original.encodePrompt(prompt).ids, JSON.stringify(prompt));
    // Without any of them: CLIP's tokens and its 77 positions.
    const bare = CLIPTokenizer.fromTokenizerJson({ tokenizerJson: toTokenizerJson(FIXTURE, 'strings', { post_processor: null }) });
    assert.deepEqual([bare.bosId, bare.eosId, bare.padId, bare.maxLength], [30, 31, 31, 77]);
  });

  test('a TemplateProcessing post-processor names the start and end tokens too', () => {
    const vocab = { a: 0, 'a</w>': 1, '<s>': 2, '</s>': 3, '<|endoftext|>': 4 };
    const tok = CLIPTokenizer.fromTokenizerJson({
      tokenizerJson: JSON.stringify({
        model: { type: 'BPE', end_of_word_suffix: '</w>', vocab, merges: [] },
        post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }] },
      }),
    });
    assert.deepEqual(tok.encodePrompt('a', 4).ids, [2, 1, 3, 4]);
  });

  test('added tokens get their ids and are split out of prompts whole', () => {
    const json = JSON.parse(toTokenizerJson(FIXTURE, 'pairs')) as { added_tokens: unknown[] };
    json.added_tokens.push({ id: 40, content: '<sks>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false });
    const tok = CLIPTokenizer.fromTokenizerJson({ tokenizerJson: JSON.stringify(json) });
    assert.deepEqual(tok.encode('hello <sks> world'), [28, 40, 29]);
    assert.equal(tok.decode([30, 28, 40, 31]), 'hello <sks>');
  });

  test('vocab.json + merges.txt win when both kinds are present; a folder with neither names what is missing', async () => {
    const vocab = readFileSync(join(FIXTURE, 'vocab.json'), 'utf8');
    const merges = readFileSync(join(FIXTURE, 'merges.txt'), 'utf8');
    const both = await loadCLIPTokenizer(folder({ 'vocab.json': vocab, 'merges.txt': merges, 'tokenizer.json': 'not read' }, FIXTURE));
    assert.deepEqual(both.encodePrompt('hello world').ids, (await loadCLIPTokenizer(FIXTURE)).encodePrompt('hello world').ids);
    const onlyVocab = folder({ 'vocab.json': vocab });
    await assert.rejects(loadCLIPTokenizer(onlyVocab), (e: unknown) => e instanceof ModelError && e.message === `${join(onlyVocab, 'merges.txt')}: is missing (a CLIP tokenizer needs vocab.json and merges.txt, or tokenizer.json)`);
  });

  test('tokenizer.json that is not CLIP-style BPE, or malformed, is a ModelError naming the file and the field', async () => {
    const base = JSON.parse(toTokenizerJson(FIXTURE, 'pairs')) as { model: Record<string, unknown> };
    const variant = (model: Record<string, unknown>) => JSON.stringify({ ...base, model: { ...base.model, ...model } });
    const cases: [string, RegExp][] = [
      [variant({ type: 'WordPiece' }), /model\.type is "WordPiece"; only CLIP's byte-level BPE tokenizer/],
      [variant({ end_of_word_suffix: null }), /model\.end_of_word_suffix is null/],
      [variant({ continuing_subword_prefix: '##' }), /model\.continuing_subword_prefix is "##"/],
      [variant({ dropout: 0.1 }), /model\.dropout is 0\.1/],
      [variant({ merges: ['h e', 'h e l'] }), /model\.merges\[1\] is "h e l"; each merge is "left right" or \["left", "right"\]/],
      [variant({ merges: [['h', 'e', 'l']] }), /model\.merges\[0\] is \["h","e","l"\]/],
      [variant({ vocab: { a: -1 } }), /model\.vocab: token "a" has id -1/],
      ['{"model": 3}', /expected a Hugging Face tokenizers file/],
      ['{', /tokenizer\.json: is not valid JSON/],
    ];
    for (const [text, pattern] of cases) {
      const dir = folder({ 'tokenizer.json': text });
      await assert.rejects(loadCLIPTokenizer(dir), (e: unknown) => e instanceof ModelError && e.message.startsWith(join(dir, 'tokenizer.json')) && pattern.test(e.message), pattern.source);
    }
  });
});
