import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatInfotext, loraTag, quoteInfotextValue } from '../../../src/engine/output/infotext';
import { parseInfotext } from '../../../src/engine/interop/automatic1111';

const recipe = {
  prompt: 'a red circle on a blue square',
  negative: 'blurry, text',
  seed: '42',
  steps: 20,
  sampler: 'euler_a',
  schedule: 'karras',
  guidance: 7,
  width: 512,
  height: 768,
  model: { ref: 'tiny-shapes', path: '/abs/models/tiny-shapes', hash: 'sha256:abcdef1234567890' },
  loras: [
    { path: '/abs/loras/outline.safetensors', ref: 'loras/outline.safetensors', weight: 0.8, hash: '0123456789abcdef' },
    { path: '/abs/loras/flat colours.safetensors', ref: 'loras/flat colours.safetensors', weight: 1 },
  ],
  rng: 'cpu',
  engine: { version: '0.1.0', onnxruntime: '1.30.0' },
};

describe('formatInfotext', () => {
  test('writes the A1111 layout: prompt with LoRA tags, negative line, parameter line in A1111 order', () => {
    assert.equal(
      formatInfotext(recipe),
      [
        'a red circle on a blue square <lora:outline:0.8> <lora:flat colours:1>',
        'Negative prompt: blurry, text',
        'Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 42, Size: 512x768, Model hash: abcdef1234, ' +
          'Model: tiny-shapes, RNG: CPU, Lora hashes: "outline: 0123456789ab", Version: imgprompt 0.1.0',
      ].join('\n'),
    );
  });

  test('omits the negative line when there is no negative prompt', () => {
    const text = formatInfotext({ ...recipe, negative: '', loras: [] });
    assert.equal(text.split('\n').length, 2);
    assert.ok(!text.includes('Negative prompt'));
  });

  test('maps every sampler and schedule to A1111 labels', () => {
    const labels = ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'lcm'].map((sampler) => /Sampler: ([^,]+)/.exec(formatInfotext({ sampler }))?.[1]);
    assert.deepEqual(labels, ['Euler', 'Euler a', 'DDIM', 'DPM++ 2M', 'LCM']);
    assert.match(formatInfotext({ schedule: 'normal' }), /Schedule type: Normal/);
  });

  test('quotes values containing a comma, colon or newline as JSON strings (infotext_utils.quote)', () => {
    assert.equal(quoteInfotextValue('plain value'), 'plain value');
    assert.equal(quoteInfotextValue('a, b'), '"a, b"');
    assert.equal(quoteInfotextValue('k: v'), '"k: v"');
    assert.equal(quoteInfotextValue('say "hi",\nbye'), '"say \\"hi\\",\\nbye"');
    assert.match(formatInfotext({ model: { name: 'odd, name: v2' } }), /Model: "odd, name: v2"/);
    assert.equal(loraTag('/x/y/detail-tweaker.safetensors', 0.5), '<lora:detail-tweaker:0.5>');
  });

  test('reads back through the A1111 parser to the same values (round trip)', () => {
    const meta = parseInfotext(formatInfotext(recipe));
    assert.equal(meta.prompt, recipe.prompt);
    assert.equal(meta.negative, recipe.negative);
    assert.equal(meta.seed, 42);
    assert.equal(meta.steps, 20);
    assert.equal(meta.sampler, 'euler_a');
    assert.equal(meta.schedule, 'karras');
    assert.equal(meta.guidance, 7);
    assert.equal(meta.width, 512);
    assert.equal(meta.height, 768);
    assert.equal(meta.model, 'tiny-shapes');
    assert.equal(meta.modelHash, 'abcdef1234');
    assert.deepEqual(meta.loras, [
      { name: 'outline', weight: 0.8, hash: '0123456789ab' },
      { name: 'flat colours', weight: 1 },
    ]);
    assert.deepEqual(meta.unmapped, { RNG: 'CPU', 'Lora hashes': 'outline: 0123456789ab', Version: 'imgprompt 0.1.0' });
  });
});
