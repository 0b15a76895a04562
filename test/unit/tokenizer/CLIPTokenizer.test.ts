// CLIPTokenizer on a hand-made tokenizer folder (test/fixtures/tokenizer/tiny, ids chosen by us and
// worked out by hand from its 13 merges), on Hugging Face's own CLIP tokenizer test case, and, when the
// embedded model and its Python reference exist, on the ids its training tokenizer produced.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLIPTokenizer, loadCLIPTokenizer, normalizeCLIPText } from '../../../src/engine/tokenizer';
import { toByteChars } from '../../../src/engine/tokenizer/byteUnicode';
import { htmlUnescape } from '../../../src/engine/tokenizer/htmlUnescape';
import { ModelError } from '../../../src/engine/errors';

const REPO = join(__dirname, '../../..');
const TINY = join(REPO, 'test/fixtures/tokenizer/tiny');

// Ids in test/fixtures/tokenizer/tiny/vocab.json.
const BOS = 30;
const EOS = 31;
const PAD = 0; // '!', from special_tokens_map.json
const ID = { hello: 28, world: 29, cat: 25, apostropheS: 26, w: 21, e: 14, apostrophe: 2, re: 27, one: 17, two: 18, three: 19,
  bang: 0, comma: 11, amp: 20, ca: 22, f: 7, aTilde: 8, copyright: 15, a: 12, controlA: 16, b: 13, ll: 23, lo: 24 };

/** BOS + ids + EOS padded with '!' to the fixture's model_max_length of 8. */
function padded(...ids: number[]): number[] {
  const out = [BOS, ...ids, EOS];
  while (out.length < 8) out.push(PAD);
  return out;
}

describe('CLIPTokenizer on the hand-made fixture', async () => {
  const tok = await loadCLIPTokenizer(TINY);

  test('reads max length and special tokens; special_tokens_map.json overrides tokenizer_config.json', () => {
    assert.equal(tok.maxLength, 8);
    assert.deepEqual([tok.bosId, tok.eosId, tok.padId, tok.unkId], [BOS, EOS, PAD, EOS]);
  });

  const cases: [string, string, number[]][] = [
    ['merges by rank into whole words, adding </w>', 'hello world', padded(ID.hello, ID.world)],
    ['lower-cases and collapses and trims whitespace', '  HELLO\t\n  World  ', padded(ID.hello, ID.world)],
    ["splits the contraction 's", "cat's", padded(ID.cat, ID.apostropheS)],
    ["splits 're, leaving unmerged symbols", "We're", padded(ID.w, ID.e, ID.apostrophe, ID.re)],
    ['splits digits one by one', '123', padded(ID.one, ID.two, ID.three)],
    ['keeps a run of other characters as one pre-token', 'hello!!,', padded(ID.hello, ID.bang, ID.bang, ID.comma)],
    ['unescapes HTML entities, twice', 'cat &amp;amp; hello', padded(ID.cat, ID.amp, ID.hello)],
    ['unescapes numeric references', 'cat&#39;s', padded(ID.cat, ID.apostropheS)],
    ['spells non-ASCII letters by their UTF-8 bytes', 'Café', padded(ID.ca, ID.f, ID.aTilde, ID.copyright)],
    ['normalises to NFC first', 'CAFE\u0301', padded(ID.ca, ID.f, ID.aTilde, ID.copyright)],
    ['maps control bytes to the shifted alphabet (0x01 is U+0101)', 'a\u0001b', padded(ID.a, ID.controlA, ID.b)],
    ['merges left to right without overlap', 'lllo', padded(ID.ll, ID.lo)],
    ['maps tokens missing from the vocabulary to unk', 'z', padded(EOS)],
    ['keeps special tokens written in the prompt', '<|startoftext|>hello<|endoftext|>', padded(BOS, ID.hello, EOS)],
    ['gives BOS, EOS and padding for an empty prompt', '', padded()],
  ];
  for (const [name, text, ids] of cases) {
    test(`${name}: ${JSON.stringify(text)}`, () => {
      const out = tok.encodePrompt(text);
      assert.deepEqual(out.ids, ids);
      assert.equal(out.truncated, false);
      assert.equal(out.droppedText, '');
    });
  }

  test('truncates to max length keeping EOS and reports what was dropped', () => {
    const out = tok.encodePrompt('hello world hello world hello world hello cat');
    assert.deepEqual(out.ids, [BOS, ID.hello, ID.world, ID.hello, ID.world, ID.hello, ID.world, EOS]);
    assert.equal(out.truncated, true);
    assert.equal(out.tokenCount, 8);
    assert.equal(out.droppedText, 'hello cat');
  });

  test('exactly max length - 2 tokens is not truncated', () => {
    const out = tok.encodePrompt('hello world hello world hello world');
    assert.equal(out.truncated, false);
    assert.equal(out.ids[7], EOS);
  });

  test('a longer max length pads further', () => {
    const out = tok.encodePrompt('hello', 77);
    assert.equal(out.ids.length, 77);
    assert.deepEqual(out.ids.slice(0, 4), [BOS, ID.hello, EOS, PAD]);
  });

  test('decode inverts encoding up to clean-up', () => {
    assert.equal(tok.decode(tok.encodePrompt('Café  hello').ids), 'café hello');
    assert.deepEqual(tok.tokenize('hello cat'), ['hello</w>', 'cat</w>']);
  });
});

describe("Hugging Face's CLIP tokenizer test (tests/models/clip/test_tokenization_clip.py::test_full_tokenizer)", () => {
  test("'lower newer' with its toy vocab and merges", () => {
    const vocab = ['l', 'o', 'w', 'e', 'r', 's', 't', 'i', 'd', 'n', 'lo', 'l</w>', 'w</w>', 'r</w>', 't</w>', 'low</w>', 'er</w>',
      'lowest</w>', 'newer</w>', 'wider', '<unk>', '<|startoftext|>', '<|endoftext|>'];
    const tok = CLIPTokenizer.fromFiles({
      vocabJson: JSON.stringify(Object.fromEntries(vocab.map((t, i) => [t, i]))),
      mergesTxt: ['#version: 0.2', 'l o', 'lo w</w>', 'e r</w>'].join('\n'),
      specialTokensMapJson: JSON.stringify({ unk_token: '<unk>' }),
    });
    assert.deepEqual(tok.tokenize('lower newer'), ['lo', 'w', 'er</w>', 'n', 'e', 'w', 'er</w>']);
    assert.deepEqual(tok.encode('lower newer'), [10, 2, 16, 9, 3, 2, 16]);
    assert.equal(tok.unkId, 20);
    assert.deepEqual(tok.encode('x'), [20]);
  });
});

describe('text clean-up and byte alphabet', () => {
  test('byte alphabet: printable bytes are themselves, space is U+0120, 0xAD is U+0143', () => {
    assert.equal(toByteChars('a~'), 'a~');
    assert.equal(toByteChars(' '), '\u0120');
    assert.equal(toByteChars('\u00ad'), '\u00c2\u0143'); // UTF-8 C2 AD
    assert.equal(toByteChars('é'), 'Ã©');
  });

  test("html.unescape's rules: legacy names without ';', prefixes, invalid code points", () => {
    assert.equal(htmlUnescape('&lt;b&gt; &amp &ampx &hellip; &hellip &unknown; &#x41;&#66 &#128; &#0; &#1;x'), '<b> & &x … &hellip &unknown; AB € \ufffd x');
    assert.equal(normalizeCLIPText('A&amp;amp;B\u00a0\u2003C\u0085'), 'a&b c');
  });
});

describe('loading errors name the file and the problem', () => {
  const withFolder = (files: Record<string, string>, check: (dir: string) => Promise<void>) => async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgprompt-tokenizer-'));
    try {
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
      await check(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const vocab = readFileSync(join(TINY, 'vocab.json'), 'utf8');

  test('missing merges.txt', withFolder({ 'vocab.json': vocab }, async (dir) => {
    await assert.rejects(loadCLIPTokenizer(dir), (e: unknown) => e instanceof ModelError && e.message.startsWith(join(dir, 'merges.txt')) && /is missing/.test(e.message));
  }));

  test('a malformed merge line', withFolder({ 'vocab.json': vocab, 'merges.txt': '#version: 0.2\nh e\nh e l\n' }, async (dir) => {
    await assert.rejects(loadCLIPTokenizer(dir), /merges\.txt: line 3 is "h e l"; each merge is two symbols/);
  }));

  test('vocab.json that is not JSON, or lacks a special token', () => {
    assert.throws(() => CLIPTokenizer.fromFiles({ vocabJson: '{', mergesTxt: '' }, 'm/tokenizer'), /m\/tokenizer\/vocab\.json: is not valid JSON/);
    assert.throws(() => CLIPTokenizer.fromFiles({ vocabJson: '{"a": 0, "<|endoftext|>": 1}', mergesTxt: '' }, 'm/tokenizer'), /the bos token '<\|startoftext\|>' is not in vocab\.json/);
    assert.throws(() => CLIPTokenizer.fromFiles({ vocabJson: '{"a": -1}', mergesTxt: '' }), /token "a" has id -1/);
  });

  test('a merges.txt without the #version header keeps its first merge', () => {
    const tok = CLIPTokenizer.fromFiles({ vocabJson: '{"ab</w>": 0, "<|startoftext|>": 1, "<|endoftext|>": 2}', mergesTxt: 'a b</w>\n' });
    assert.deepEqual(tok.encode('ab'), [0]);
  });
});

// The embedded model's tokenizer against the ids of its Python training tokenizer
// (tools/tiny_model/clip_bpe.py), written by tools/tiny_model/make_fixtures.py.
const REFERENCE = join(REPO, 'test/fixtures/reference/model/tokenizer.json');
const MODEL_TOKENIZER = join(REPO, 'models/tiny-shapes/tokenizer');
const referenceMissing = !existsSync(REFERENCE)
  ? 'test/fixtures/reference/model/tokenizer.json is not there yet (written by tools/tiny_model/make_fixtures.py)'
  : !existsSync(join(MODEL_TOKENIZER, 'vocab.json'))
    ? 'models/tiny-shapes/tokenizer is not there yet'
    : false;

describe('the embedded model tokenizer matches its Python reference', { skip: referenceMissing }, () => {
  test('every reference prompt', async () => {
    const reference = JSON.parse(readFileSync(REFERENCE, 'utf8')) as {
      max_length: number;
      cases: { text: string; ids: number[]; tokens_without_special: number }[];
    };
    const tok = await loadCLIPTokenizer(MODEL_TOKENIZER);
    assert.equal(tok.maxLength, reference.max_length);
    for (const c of reference.cases) {
      const out = tok.encodePrompt(c.text);
      assert.deepEqual(out.ids, c.ids, `ids of ${JSON.stringify(c.text)}`);
      assert.equal(out.tokenCount, c.tokens_without_special, `token count of ${JSON.stringify(c.text)}`);
      assert.equal(out.truncated, c.tokens_without_special > reference.max_length - 2);
    }
  });
});
