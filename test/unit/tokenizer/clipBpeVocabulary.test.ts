// The CLIP vocabulary imgprompt ships (vocab/bpe_simple_vocab_16e6.txt.gz, OpenAI's file): the ids it
// gives against ids published for OpenAI's and Hugging Face's CLIP tokenizers, its size, and that a
// single-file checkpoint with no tokenizer folder beside it gets it by default.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { findTokenizer } from '../../../src/engine/checkpoint';
import { ModelError } from '../../../src/engine/errors';
import { CLIPTokenizer, clipVocabularyFromBpe, readClipBpeVocabulary, shippedClipBpePath } from '../../../src/engine/tokenizer';

const REPO = join(__dirname, '../../..');

describe('the shipped CLIP BPE vocabulary', async () => {
  const path = shippedClipBpePath(__dirname);
  assert.equal(path, join(REPO, 'vocab', 'bpe_simple_vocab_16e6.txt.gz'));
  const files = await readClipBpeVocabulary(path as string);
  const tokenizer = CLIPTokenizer.fromFiles(files, 'vocab');
  const vocab = JSON.parse(files.vocabJson) as Record<string, number>;

  test('has 49,408 ids: 256 bytes, 256 bytes with </w>, 48,894 merges, then the start and end tokens', () => {
    const ids = Object.values(vocab);
    assert.equal(ids.length, 49408);
    assert.deepEqual(new Set(ids).size, 49408);
    assert.equal(Math.max(...ids), 49407);
    assert.equal(vocab['!'], 0);
    assert.equal(vocab['!</w>'], 256);
    assert.equal(vocab['<|startoftext|>'], 49406);
    assert.equal(vocab['<|endoftext|>'], 49407);
    assert.equal(files.mergesTxt.trimEnd().split('\n').length, 1 + 48894);
    assert.deepEqual([tokenizer.bosId, tokenizer.eosId, tokenizer.padId], [49406, 49407, 49407]);
  });

  // Published ids: Hugging Face's CLIP model docs ("a photo of a cat"), clip.tokenize examples
  // ("a painting of a cat", "bozuman") and a CLIP tokenizer tool's README ("n kabrie").
  const published: [string, number[]][] = [
    ['a photo of a cat', [320, 1125, 539, 320, 2368]],
    ['a photo of a dog', [320, 1125, 539, 320, 1929]],
    ['a painting of a cat', [320, 3086, 539, 320, 2368]],
    ['bozuman', [647, 4091, 786]],
    ['n kabrie', [333, 6554, 5322]],
  ];
  for (const [text, ids] of published) {
    test(`"${text}" gives the published ids`, () => {
      const out = tokenizer.encodePrompt(text);
      assert.deepEqual(out.ids.slice(0, ids.length + 2), [49406, ...ids, 49407]);
      assert.equal(out.ids.length, 77);
      assert.ok(out.ids.slice(ids.length + 2).every((id) => id === 49407));
      assert.equal(tokenizer.decode(out.ids), text);
    });
  }

  test('a single-file checkpoint without a tokenizer/ beside it gets the shipped vocabulary, before the HF cache', () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgprompt-bpe-'));
    try {
      const file = join(dir, 'model.safetensors');
      assert.deepEqual(findTokenizer(file, undefined, { HF_HOME: join(dir, 'hf') }), { kind: 'clip-bpe', path });
      mkdirSync(join(dir, 'tokenizer'));
      writeFileSync(join(dir, 'tokenizer', 'tokenizer.json'), '{}');
      assert.deepEqual(findTokenizer(file, undefined, {}), { kind: 'folder', path: join(dir, 'tokenizer') });
      assert.throws(() => findTokenizer(join(dir, 'x', 'm.safetensors'), join(dir, 'none'), {}), /no CLIP tokenizer was found/);
      assert.throws(() => findTokenizer(join(dir, 'x', 'm.safetensors'), undefined, { HF_HOME: join(dir, 'hf') }, join(dir, 'missing.gz')), /no CLIP tokenizer was found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a file that is not the vocabulary is refused with its path', async () => {
    assert.throws(() => clipVocabularyFromBpe('#version\ni n\nt h\n', 'short.txt'), (e: unknown) => e instanceof ModelError && /2 merges/.test(e.message) && /short\.txt/.test(e.message));
    const dir = mkdtempSync(join(tmpdir(), 'imgprompt-bpe-'));
    try {
      writeFileSync(join(dir, 'plain.gz'), 'not gzip');
      await assert.rejects(readClipBpeVocabulary(join(dir, 'plain.gz')), (e: unknown) => e instanceof ModelError && /gzip/.test(e.message));
      writeFileSync(join(dir, 'bomb.gz'), gzipSync(Buffer.alloc(32 * 1024 * 1024)));
      await assert.rejects(readClipBpeVocabulary(join(dir, 'bomb.gz')), (e: unknown) => e instanceof ModelError && /at most/.test(e.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
