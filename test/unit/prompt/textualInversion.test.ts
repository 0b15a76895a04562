// Textual-inversion embeddings: where a prompt uses one (ComfyUI's `embedding:NAME`, A1111's bare file
// name on CLIP's token boundaries), reading the .safetensors files (made here with known vectors), and
// the encoder: an embedding whose vectors are the token rows of "red" and "circle" must encode exactly as
// the words "red circle" do, with emphasis and clip skip too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../../src/engine/errors';
import { stableDiffusion } from '../../../src/engine/model/families/stableDiffusion';
import { CLIPTextEncoder } from '../../../src/engine/model/clipTextEncoder';
import { acquireComponent } from '../../../src/engine/model/componentLease';
import { loadTextualInversion, textualInversionIds, textualInversionPatch } from '../../../src/engine/model/textualInversion';
import { SessionCache } from '../../../src/engine/onnx/sessionCache';
import { initializerBytes, readOnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { explicitEmbeddingRefs, splitEmbeddingNames, type EmbeddingName } from '../../../src/engine/prompt';
import { loadCLIPTokenizer } from '../../../src/engine/tokenizer';
import { tempDir, values, writeSafetensors } from '../lora/loraFixtures';
import { encoderServices, type EncoderServices } from './encoderServices';

const show = (text: string, names: EmbeddingName[]) =>
  splitEmbeddingNames(text, names).map((p) => ('text' in p ? p.text : `<${names[p.embedding].name}>`)).join('|');

describe('where a prompt uses an embedding', () => {
  const names: EmbeddingName[] = [
    { name: 'easynegative', byName: true },
    { name: 'bad-hands-5', byName: true },
    { name: 'bad', byName: true },
    { name: 'style/ink.safetensors', byName: false },
  ];

  test('bare names on CLIP token boundaries, case-insensitively, the longest first', () => {
    assert.equal(show('EasyNegative, blurry', names), '<easynegative>|, blurry');
    assert.equal(show('easynegatives', names), 'easynegatives');
    assert.equal(show('xeasynegative', names), 'xeasynegative');
    assert.equal(show('easynegative2 bad-hands-5, bad', names), '<easynegative>|2 |<bad-hands-5>|, |<bad>');
    assert.equal(show('bad-hands-55', names), '<bad-hands-5>|5');
    assert.equal(show('bad--hands', names), '<bad>|--hands');
  });

  test("ComfyUI's embedding:NAME, extension optional; scene paths only that way", () => {
    assert.equal(show('a embedding:easynegative, b', names), 'a |<easynegative>|, b');
    assert.equal(show('(embedding:style/ink:1.2) cat.', names), '(|<style/ink.safetensors>|:1.2) cat.');
    assert.equal(show('style/ink cat', names), 'style/ink cat');
    assert.equal(show('embedding:unknown cat', names), 'embedding:unknown cat');
    assert.deepEqual(explicitEmbeddingRefs('embedding:a, (embedding:b/c.safetensors:1.1) xembedding:d embedding:e.'), ['a', 'b/c.safetensors', 'e']);
  });
});

describe('loadTextualInversion', () => {
  const tmp = tempDir('ti-');
  after(() => tmp.cleanup());

  test('emb_params (F32 and F16), a single vector, and the clip_l of an SDXL file', async () => {
    const v = values(2 * 4, 1);
    const a = await loadTextualInversion(writeSafetensors(tmp.dir, 'a.safetensors', [{ name: 'emb_params', dtype: 'F32', shape: [2, 4], values: v }]), 4);
    assert.equal(a.count, 2);
    assert.deepEqual([...a.vectors], [...v]);
    assert.match(a.sha256, /^[0-9a-f]{64}$/);
    const half = await loadTextualInversion(writeSafetensors(tmp.dir, 'h.safetensors', [{ name: 'emb_params', dtype: 'F16', shape: [1, 4], values: [0.5, -2, 0.25, 1] }]), 4);
    assert.deepEqual([...half.vectors], [0.5, -2, 0.25, 1]);
    const one = await loadTextualInversion(writeSafetensors(tmp.dir, 'o.safetensors', [{ name: 'anything', dtype: 'F32', shape: [4], values: [1, 2, 3, 4] }]), 4);
    assert.equal(one.count, 1);
    const xl = await loadTextualInversion(
      writeSafetensors(tmp.dir, 'xl.safetensors', [
        { name: 'clip_g', dtype: 'F32', shape: [1, 8], values: values(8, 2) },
        { name: 'clip_l', dtype: 'F32', shape: [1, 4], values: [4, 3, 2, 1] },
      ]),
      4,
    );
    assert.deepEqual([...xl.vectors], [4, 3, 2, 1]);
  });

  test('refusals name the file and the reason', async () => {
    const refuse = async (path: string, width: number, pattern: RegExp) =>
      assert.rejects(loadTextualInversion(path, width), (e: Error) => e instanceof InputError && pattern.test(e.message) && e.message.includes(path));
    await refuse(writeSafetensors(tmp.dir, 'g.safetensors', [{ name: 'clip_g', dtype: 'F32', shape: [1, 8], values: values(8, 3) }]), 4, /only clip_g.*need clip_l/);
    await refuse(writeSafetensors(tmp.dir, 'w.safetensors', [{ name: 'emb_params', dtype: 'F32', shape: [1, 8], values: values(8, 4) }]), 4, /width 4/);
    await refuse(
      writeSafetensors(tmp.dir, 'two.safetensors', [
        { name: 'x', dtype: 'F32', shape: [1, 4], values: values(4, 5) },
        { name: 'y', dtype: 'F32', shape: [1, 4], values: values(4, 6) },
      ]),
      4,
      /expected one tensor \(emb_params\) or clip_l; found x, y/,
    );
    const pt = join(tmp.dir, 'old.pt');
    writeFileSync(pt, 'not read');
    await refuse(pt, 4, /pickle, which is never loaded/);
    const truncated = join(tmp.dir, 't.safetensors');
    writeFileSync(truncated, Buffer.from([255, 0, 0, 0, 0, 0, 0, 0, 123]));
    await refuse(truncated, 4, /header length/);
  });
});

describe('an embedding in the SD family on models/tiny-shapes', () => {
  let env: EncoderServices;
  const tmp = tempDir('ti-model-');
  let shapey = '';
  let other = '';
  before(async () => {
    env = encoderServices();
    // The vectors of "red" and "circle": rows of the exported token table.
    const tok = await loadCLIPTokenizer(join(env.model.dir, 'tokenizer'));
    const ids = tok.encode('red circle');
    assert.equal(ids.length, 2);
    const files = await readOnnxModelFiles(join(env.model.dir, 'text_encoder', 'model.onnx'));
    const table = files.info.initializers.find((i) => i.name === 'te.text_model.embeddings.token_embedding.weight')!;
    const bytes = initializerBytes(files, table)!;
    const rows = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    const width = table.dims[1];
    const vectors = [...ids].flatMap((id) => [...rows.subarray(id * width, (id + 1) * width)]);
    shapey = writeSafetensors(tmp.dir, 'shapey.safetensors', [{ name: 'emb_params', dtype: 'F32', shape: [2, width], values: vectors }]);
    other = writeSafetensors(tmp.dir, 'other.safetensors', [{ name: 'emb_params', dtype: 'F32', shape: [1, width], values: values(width, 9, 0.5) }]);
  });
  after(async () => {
    await env.release();
    tmp.cleanup();
  });

  const encode = (text: string, embeddings: { name: string; byName: boolean; path: string }[], options: Record<string, number> = {}) =>
    stableDiffusion.encodePrompt(text, { width: 128, height: 128, options, embeddings }, env.model, env.services);
  const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

  const cases: [string, string, string, Record<string, number>][] = [
    ['by file name (A1111)', 'a shapey on the left, blue background', 'a red circle on the left, blue background', {}],
    ['as embedding:NAME (ComfyUI)', 'a embedding:shapey on the left, blue background', 'a red circle on the left, blue background', {}],
    ['weighted', 'a (shapey:1.3) on the left, [blue] background', 'a (red circle:1.3) on the left, [blue] background', {}],
    ['with clip skip 2', 'a shapey on the left, blue background', 'a red circle on the left, blue background', { clip_skip: 2 }],
  ];
  for (const [label, withEmbedding, withWords, options] of cases) {
    test(`an embedding holding the rows of "red circle" encodes as those words: ${label}`, async () => {
      const a = await encode(withEmbedding, [{ name: 'shapey', byName: true, path: shapey }], options);
      const b = await encode(withWords, [], options);
      assert.ok(same(a.hiddenStates.data, b.hiddenStates.data), 'hidden states differ');
    });
  }

  test('a scene-path embedding matches only as embedding:REF; other vectors change the encoding', async () => {
    const embeddings = [{ name: 'ti/other.safetensors', byName: false, path: other }];
    const plain = await encode('a red circle on the left', []);
    const bare = await encode('a red circle on the left other', embeddings);
    const used = await encode('a red circle on the left embedding:ti/other', embeddings);
    const words = await encode('a red circle on the left other', []);
    assert.ok(same(bare.hiddenStates.data, words.hiddenStates.data));
    assert.ok(!same(used.hiddenStates.data, plain.hiddenStates.data));
  });

  test('a prompt that uses no embedding takes the unpatched encoder (same cache key, same bits)', async () => {
    env.keys.length = 0;
    const a = await encode('a red circle', [{ name: 'shapey', byName: true, path: shapey }]);
    const b = await encode('a red circle', []);
    assert.equal(env.keys[0], env.keys[1]);
    assert.ok(same(a.hiddenStates.data, b.hiddenStates.data));
    await encode('a shapey', [{ name: 'shapey', byName: true, path: shapey }]);
    assert.match(env.keys[2], /#textual-inversion:v1:628:[0-9a-f]{64}\0a shapey$/);
  });

  test('an embedding past the window is reported by its name', async () => {
    const long = `${'red circle '.repeat(37)}shapey`;
    const out = await encode(long, [{ name: 'shapey', byName: true, path: shapey }]);
    assert.equal(out.droppedText, 'embedding:shapey');
  });
});

for (const opset of [17, 14]) {
  test(`the extended token table on a Hugging Face-layout encoder (opset ${opset}): embedding ids encode as the rows they copy; pooling still finds EOS`, async () => {
    const dir = join(__dirname, '..', '..', 'fixtures', 'reference', 'prompt', `clip_hf_opset${opset}`);
    const files = await readOnnxModelFiles(join(dir, 'model.onnx'));
    const table = files.info.initializers.find((i) => i.name === 'token_embedding.weight')!;
    const [vocab, width] = table.dims;
    const bytes = initializerBytes(files, table)!;
    const rows = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    const tmp = tempDir('ti-hf-');
    const cache = new SessionCache();
    try {
      const path = writeSafetensors(tmp.dir, 'e.safetensors', [{ name: 'emb_params', dtype: 'F32', shape: [2, width], values: [...rows.subarray(5 * width, 6 * width), ...rows.subarray(9 * width, 10 * width)] }]);
      const inversion = await loadTextualInversion(path, width);
      const [ids] = textualInversionIds([inversion], vocab);
      assert.deepEqual(ids, [vocab, vocab + 1]);
      const EOS = vocab - 1;
      const patched = await acquireComponent(cache, dir, CLIPTextEncoder, { patch: textualInversionPatch([inversion], vocab) });
      const plain = await acquireComponent(cache, dir, CLIPTextEncoder);
      const a = await patched.component.encode([[0, ...ids, 3, EOS, EOS, EOS, EOS]]);
      const b = await plain.component.encode([[0, 5, 9, 3, EOS, EOS, EOS, EOS]]);
      assert.deepEqual([...a.lastHiddenState.data], [...b.lastHiddenState.data]);
      assert.deepEqual([...a.pooledOutput!.data], [...b.pooledOutput!.data]);
      patched.release();
      plain.release();
    } finally {
      await cache.clear();
      tmp.cleanup();
    }
  });
}
