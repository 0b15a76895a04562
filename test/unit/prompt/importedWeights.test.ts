// Prompts imported from A1111 infotexts and ComfyUI graphs keep their emphasis syntax through
// `imgprompt import` (metadata → scene text → parsed scene), and the engine then encodes them with
// their weights: the imported scene's conditioning differs from the same words without emphasis.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInfotext } from '../../../src/engine/interop/automatic1111';
import { parseComfyPrompt } from '../../../src/engine/interop/comfyui';
import { sceneFromMetadata } from '../../../src/engine/interop/sceneFromMetadata';
import { stableDiffusion } from '../../../src/engine/model/families/stableDiffusion';
import { hasEmphasis, parsePromptAttention } from '../../../src/engine/prompt';
import { parseScene } from '../../../src/engine/scene/parseScene';
import { encoderServices, type EncoderServices } from './encoderServices';

const SIZE = { width: 128, height: 128 };
const A1111 = 'a (red:1.4) circle on the left, [blue] background, \\(small\\)\nNegative prompt: (ugly:1.3)\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 128x128';
const COMFY = JSON.stringify({
  '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'base.safetensors' } },
  '2': { class_type: 'CLIPTextEncode', inputs: { clip: ['1', 1], text: '((large)) yellow (square:1.2) at the top' } },
  '3': { class_type: 'CLIPTextEncode', inputs: { clip: ['1', 1], text: '(blurry:0.8)' } },
  '4': { class_type: 'EmptyLatentImage', inputs: { width: 128, height: 128, batch_size: 1 } },
  '5': { class_type: 'KSampler', inputs: { model: ['1', 0], positive: ['2', 0], negative: ['3', 0], latent_image: ['4', 0], seed: 3, steps: 10, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1 } },
});

describe('imported prompts keep their weights and render with them', () => {
  let env: EncoderServices;
  before(() => {
    env = encoderServices();
  });
  after(() => env.release());

  const cases: [string, () => ReturnType<typeof parseInfotext> | undefined, string, string, string][] = [
    ['A1111 infotext', () => parseInfotext(A1111), 'a (red:1.4) circle on the left, [blue] background, \\(small\\)', '(ugly:1.3)', 'a red circle on the left, blue background, (small)'],
    ['ComfyUI prompt graph', () => parseComfyPrompt(COMFY), '((large)) yellow (square:1.2) at the top', '(blurry:0.8)', 'large yellow square at the top'],
  ];
  for (const [label, read, prompt, negative, words] of cases) {
    test(label, async () => {
      const meta = read();
      const parsed = parseScene(sceneFromMetadata(meta!));
      assert.equal(parsed.scene.prompt, prompt);
      assert.equal(parsed.scene.negative, negative);
      assert.ok(hasEmphasis(parsePromptAttention(parsed.scene.prompt!)));
      const weighted = await stableDiffusion.encodePrompt(parsed.scene.prompt!, SIZE, env.model, env.services);
      const plain = await stableDiffusion.encodePrompt(words, SIZE, env.model, env.services);
      assert.notDeepStrictEqual(weighted.hiddenStates.data, plain.hiddenStates.data);
    });
  }
});
