// Weights onto tokens (the hand-made tokenizer fixture), the weighting rule on hand-checked numbers, and
// the SD family's encodePrompt on the embedded model: weighted prompts against PyTorch
// (test/fixtures/reference/prompt/emphasis.json, tools/reference/make_prompt_fixtures.py), and prompts
// without emphasis through exactly the path they took before emphasis existed, bit for bit.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stableDiffusion } from '../../../src/engine/model/families/stableDiffusion';
import { CLIPTextEncoder } from '../../../src/engine/model/clipTextEncoder';
import { applyEmphasis, parsePromptAttention, weightedPromptTokens } from '../../../src/engine/prompt';
import { loadCLIPTokenizer } from '../../../src/engine/tokenizer';
import { encoderServices, type EncoderServices } from './encoderServices';

const REPO = join(__dirname, '..', '..', '..');
const TINY_TOKENIZER = join(REPO, 'test/fixtures/tokenizer/tiny');
const SIZE = { width: 128, height: 128 };

describe('weightedPromptTokens on the hand-made tokenizer (max length 8: room for 6 tokens)', async () => {
  const tok = await loadCLIPTokenizer(TINY_TOKENIZER);
  const [BOS, EOS, PAD] = [tok.bosId, tok.eosId, tok.padId];

  test('every BPE piece of a word carries its weight; BOS, EOS and padding carry 1', () => {
    // 'cab' is two tokens here: 'ca' (22) and 'b</w>' (13).
    const out = weightedPromptTokens(parsePromptAttention('(cab:2) [hello] world'), tok);
    assert.deepStrictEqual(out.ids, [BOS, 22, 13, 28, 29, EOS, PAD, PAD]);
    assert.deepStrictEqual(out.weights, [1, 2, 2, 1 / 1.1, 1, 1, 1, 1]);
    assert.equal(out.truncated, false);
    assert.equal(out.droppedText, '');
  });

  test('the same ids as the tokenizer gives the text without the syntax (fragments end at word boundaries)', () => {
    const out = weightedPromptTokens(parsePromptAttention('hello (world:1.2), (cat)'), tok);
    assert.deepStrictEqual(out.ids, tok.encodePrompt('hello world, cat').ids);
  });

  test('tokens past the window are dropped and reported, with their weights', () => {
    const out = weightedPromptTokens(parsePromptAttention('(hello world cat:1.5) hello world cat hello'), tok);
    assert.deepStrictEqual(out.ids, [BOS, 28, 29, 25, 28, 29, 25, EOS]);
    assert.deepStrictEqual(out.weights, [1, 1.5, 1.5, 1.5, 1, 1, 1, 1]);
    assert.equal(out.tokenCount, 7);
    assert.equal(out.truncated, true);
    assert.equal(out.droppedText, 'hello');
  });

  test('BREAK ends the one chunk the engine encodes: what follows is dropped and reported', () => {
    const out = weightedPromptTokens(parsePromptAttention('(hello) BREAK world cat'), tok);
    assert.deepStrictEqual(out.ids, [BOS, 28, EOS, PAD, PAD, PAD, PAD, PAD]);
    assert.deepStrictEqual(out.weights, [1, 1.1, 1, 1, 1, 1, 1, 1]);
    assert.equal(out.truncated, true);
    assert.equal(out.droppedText, 'BREAK world cat');
  });
});

describe('applyEmphasis: A1111 "Original"', () => {
  test('multiplies each token by its weight, then restores the unweighted mean', () => {
    // Two tokens of width 2: mean before 2.5; weighted [1, 2, 6, 8] has mean 4.25; scale 2.5 / 4.25.
    const out = applyEmphasis(Float32Array.of(1, 2, 3, 4), [1, 2]);
    const scale = Math.fround(2.5 / 4.25);
    assert.deepStrictEqual([...out], [1, 2, 6, 8].map((v) => Math.fround(v * scale)));
    const mean = (a: Float32Array): number => a.reduce((s, v) => s + v, 0) / a.length;
    assert.ok(Math.abs(mean(out) - 2.5) < 1e-6);
  });

  test('all weights 1 leave the values as they are', () => {
    const hidden = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i) * 3);
    assert.deepStrictEqual(applyEmphasis(hidden, [1, 1, 1]), hidden);
  });

  test('refuses weights that do not match the tokens', () => {
    assert.throws(() => applyEmphasis(new Float32Array(10), [1, 1, 1]), RangeError);
  });
});

describe('stableDiffusion.encodePrompt with emphasis on models/tiny-shapes', () => {
  let env: EncoderServices;
  before(() => {
    env = encoderServices();
  });
  after(() => env.release());

  const reference = JSON.parse(readFileSync(join(REPO, 'test/fixtures/reference/prompt/emphasis.json'), 'utf8')) as {
    tolerance_abs: number;
    cases: { prompt: string; input_ids: number[]; weights: number[]; shape: number[]; hidden_states: string }[];
  };
  for (const c of reference.cases) {
    test(`matches PyTorch within ${reference.tolerance_abs}: ${c.prompt}`, async () => {
      const tok = await loadCLIPTokenizer(join(env.model.dir, 'tokenizer'));
      const tokens = weightedPromptTokens(parsePromptAttention(c.prompt), tok);
      assert.deepStrictEqual(tokens.ids, c.input_ids);
      assert.deepStrictEqual(tokens.weights, c.weights);
      const cond = await stableDiffusion.encodePrompt(c.prompt, SIZE, env.model, env.services);
      const bytes = Buffer.from(c.hidden_states, 'base64');
      const expected = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
      assert.deepStrictEqual(cond.hiddenStates.dims, c.shape);
      let worst = 0;
      for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(cond.hiddenStates.data[i] - expected[i]));
      assert.ok(worst <= reference.tolerance_abs, `max |ORT - torch| = ${worst}`);
    });
  }

  test('a prompt without emphasis encodes bit for bit as before: the tokenizer on the whole text, the encoder output untouched', async () => {
    const tok = await loadCLIPTokenizer(join(env.model.dir, 'tokenizer'));
    const encoder = await env.services.acquire('text_encoder', CLIPTextEncoder);
    const plain = ['a red circle on the left, blue background', '', 'ratio 16:9; a: b', 'a caf\u00e9 BREAKFAST', `${'red circle '.repeat(50)}`];
    for (const text of plain) {
      const before = await encoder.encode([tok.encodePrompt(text).ids]);
      const now = await stableDiffusion.encodePrompt(text, SIZE, env.model, env.services);
      assert.ok(Buffer.from(now.hiddenStates.data.buffer).equals(Buffer.from(before.lastHiddenState.data.buffer)), `hidden states differ for ${JSON.stringify(text)}`);
      assert.equal(now.droppedText, tok.encodePrompt(text).truncated ? tok.encodePrompt(text).droppedText : undefined);
    }
  });

  test('emphasis changes the conditioning; weights 1 spelled out do not', async () => {
    const plain = await stableDiffusion.encodePrompt('a red circle', SIZE, env.model, env.services);
    const one = await stableDiffusion.encodePrompt('a (red:1) circle', SIZE, env.model, env.services);
    const up = await stableDiffusion.encodePrompt('a (red:1.5) circle', SIZE, env.model, env.services);
    assert.deepStrictEqual(one.hiddenStates.data, plain.hiddenStates.data);
    assert.notDeepStrictEqual(up.hiddenStates.data, plain.hiddenStates.data);
  });
});
