// clip_skip against PyTorch: A1111's final_layer_norm(hidden_states[-N]) with hidden_states as
// transformers' output_hidden_states gives them. On two Hugging Face-layout CLIP encoders
// (tools/reference/make_clip_skip_models.py: LayerNormalization at opset 17, the decomposed ReduceMean
// form at opset 14; pooler_output gathered from last_hidden_state) and on the embedded model through the
// SD family (tools/reference/make_prompt_fixtures.py, with tiny-shapes' own EOS fill after the norm).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelError } from '../../../src/engine/errors';
import { applyClipSkip, clipSkipPatch } from '../../../src/engine/model/clipSkip';
import { CLIPTextEncoder } from '../../../src/engine/model/clipTextEncoder';
import { acquireComponent } from '../../../src/engine/model/componentLease';
import { stableDiffusion } from '../../../src/engine/model/families/stableDiffusion';
import { readOnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { parseEditableModel } from '../../../src/engine/onnx/onnxWriter';
import { SessionCache } from '../../../src/engine/onnx/sessionCache';
import { encoderServices, type EncoderServices } from '../prompt/encoderServices';

const REFERENCE = join(__dirname, '..', '..', 'fixtures', 'reference', 'prompt');

function floats(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

interface HFReference {
  layers: number;
  input_ids: number[][];
  shape: number[];
  pooler_output: string;
  clip_skips: { clip_skip: number; last_hidden_state: string }[];
  tolerance_abs: number;
}

for (const opset of [17, 14]) {
  describe(`clip_skip on a Hugging Face-layout CLIP encoder, opset ${opset}`, () => {
    const dir = join(REFERENCE, `clip_hf_opset${opset}`);
    const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as HFReference;
    const cache = new SessionCache();
    after(() => cache.clear());

    for (const { clip_skip: n, last_hidden_state } of ref.clip_skips) {
      test(`clip skip ${n}: last_hidden_state within ${ref.tolerance_abs} of final_layer_norm(hidden_states[-${n}]); pooler_output still from the last layer`, async () => {
        const lease = await acquireComponent(cache, dir, CLIPTextEncoder, { patch: clipSkipPatch(n) });
        try {
          const out = await lease.component.encode(ref.input_ids);
          assert.deepStrictEqual(out.lastHiddenState.dims, ref.shape);
          const hidden = maxDiff(out.lastHiddenState.data, floats(last_hidden_state));
          assert.ok(hidden <= ref.tolerance_abs, `last_hidden_state: max |ORT - torch| = ${hidden}`);
          const pooled = maxDiff(out.pooledOutput!.data, floats(ref.pooler_output));
          assert.ok(pooled <= ref.tolerance_abs, `pooler_output: max |ORT - torch| = ${pooled}`);
        } finally {
          lease.release();
        }
      });
    }

    test(`clip skip ${ref.layers + 2} is a ModelError naming the most this encoder allows`, async () => {
      const files = await readOnnxModelFiles(join(dir, 'model.onnx'));
      assert.throws(() => applyClipSkip(files, ref.layers + 2), (e: Error) => e instanceof ModelError && new RegExp(`has ${ref.layers} layers, so clip_skip can be at most ${ref.layers + 1}`).test(e.message));
    });

    test('the rewrite keeps every original node the pooled output needs and adds only the copied norm', async () => {
      const files = await readOnnxModelFiles(join(dir, 'model.onnx'));
      const before = parseEditableModel(files.modelBytes);
      const after = parseEditableModel(applyClipSkip(files, 2).modelBytes);
      assert.deepStrictEqual(after.graphOutputs, before.graphOutputs);
      const normNodes = opset === 17 ? 1 : 9; // LayerNormalization, or ReduceMean Sub Pow ReduceMean Add Sqrt Div Mul Add
      assert.equal(after.nodes.length, before.nodes.length + normNodes);
      assert.equal(after.nodes.filter((n) => n.outputs.includes('last_hidden_state')).length, 1);
    });
  });
}

describe('clip_skip through the SD family on models/tiny-shapes', () => {
  let env: EncoderServices;
  before(() => {
    env = encoderServices();
  });
  after(() => env.release());

  const ref = JSON.parse(readFileSync(join(REFERENCE, 'clip_skip.json'), 'utf8')) as {
    tolerance_abs: number;
    cases: { clip_skip: number; prompts: string[]; input_ids: number[][]; weights?: number[]; shape: number[]; hidden_states: string }[];
  };
  for (const c of ref.cases) {
    const label = c.weights ? `a weighted prompt with clip skip ${c.clip_skip}` : `clip skip ${c.clip_skip}`;
    test(`${label}: matches PyTorch within ${ref.tolerance_abs}`, async () => {
      const expected = floats(c.hidden_states);
      const per = expected.length / c.prompts.length;
      let worst = 0;
      for (const [k, prompt] of c.prompts.entries()) {
        const cond = await stableDiffusion.encodePrompt(prompt, { width: 128, height: 128, options: { clip_skip: c.clip_skip } }, env.model, env.services);
        assert.deepStrictEqual(cond.hiddenStates.dims, [1, ...c.shape.slice(1)]);
        worst = Math.max(worst, maxDiff(cond.hiddenStates.data, expected.subarray(k * per, (k + 1) * per)));
      }
      assert.ok(worst <= ref.tolerance_abs, `max |ORT - torch| = ${worst}`);
    });
  }

  test('clip skip 1 is the unpatched encoder (same key and hidden states as no option); each other value is its own variant', async () => {
    const prompt = 'a red circle on the left, blue background';
    env.keys.length = 0;
    const none = await stableDiffusion.encodePrompt(prompt, { width: 128, height: 128 }, env.model, env.services);
    const one = await stableDiffusion.encodePrompt(prompt, { width: 128, height: 128, options: { clip_skip: 1 } }, env.model, env.services);
    const two = await stableDiffusion.encodePrompt(prompt, { width: 128, height: 128, options: { clip_skip: 2 } }, env.model, env.services);
    assert.deepStrictEqual(one.hiddenStates.data, none.hiddenStates.data);
    assert.notDeepStrictEqual(two.hiddenStates.data, none.hiddenStates.data);
    assert.equal(env.keys[0], env.keys[1]);
    assert.match(env.keys[2], /#clip-skip:2:v1\0/);
  });

  test('clip skip beyond the 4 layers (+ embeddings) of tiny-shapes is a ModelError at encode time', async () => {
    await assert.rejects(
      stableDiffusion.encodePrompt('a red circle', { width: 128, height: 128, options: { clip_skip: 6 } }, env.model, env.services),
      (e: Error) => e instanceof ModelError && /cannot apply clip_skip 6: the text encoder has 4 layers, so clip_skip can be at most 5/.test(e.message),
    );
  });
});
