// Infotexts written for these tests in the format AUTOMATIC1111 produces (processing.create_infotext).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { extractLoraTags, parseInfotext, parseInfotextParams } from '../../../src/engine/interop/automatic1111';
import { samplerFromA1111 } from '../../../src/engine/output/samplerNames';

describe('parseInfotext', () => {
  test('multi-line prompt, LoRA tags, negative, quoted values with commas, Hires keys kept unmapped', () => {
    const meta = parseInfotext(
      [
        'a lighthouse on a cliff, (storm clouds:1.2),',
        'dramatic lighting <lora:wavesXL:0.7> <lora:film grain:1>',
        'Negative prompt: blurry, lowres',
        'worst quality',
        'Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592653, Size: 768x512, ' +
          'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Hires upscale: 2, ' +
          'Hires upscaler: "Latent (nearest-exact)", Lora hashes: "wavesXL: 0123456789ab, film grain: ba9876543210", ' +
          'TI hashes: "easynegative: c74b4e810b03, bad: 1", Version: v1.10.1',
      ].join('\n'),
    );
    assert.deepEqual(meta, {
      source: 'automatic1111',
      prompt: 'a lighthouse on a cliff, (storm clouds:1.2),\ndramatic lighting',
      negative: 'blurry, lowres\nworst quality',
      steps: 28,
      sampler: 'dpmpp_2m',
      schedule: 'karras',
      guidance: 6.5,
      seed: 3141592653,
      width: 768,
      height: 512,
      model: 'v1-5-pruned-emaonly',
      modelHash: '6ce0161689',
      denoise: 0.45,
      loras: [
        { name: 'wavesXL', weight: 0.7, hash: '0123456789ab' },
        { name: 'film grain', weight: 1, hash: 'ba9876543210' },
      ],
      unmapped: {
        'Hires upscale': '2',
        'Hires upscaler': 'Latent (nearest-exact)',
        'TI hashes': 'easynegative: c74b4e810b03, bad: 1',
        Version: 'v1.10.1',
      },
    });
  });

  test('no negative prompt, old-style "Euler a" and a JSON-escaped quote inside a value', () => {
    const meta = parseInfotext('a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Note: "say \\"hi\\", then: go"');
    assert.equal(meta.prompt, 'a cat');
    assert.equal(meta.negative, undefined);
    assert.equal(meta.sampler, 'euler_a');
    assert.equal(meta.schedule, undefined);
    assert.equal(meta.seed, 42);
    assert.deepEqual(meta.unmapped, { Note: 'say "hi", then: go' });
  });

  test('the pre-1.9 "DPM++ 2M Karras" sampler label splits into sampler and schedule', () => {
    const meta = parseInfotext('x\nSteps: 30, Sampler: DPM++ 2M Karras, CFG scale: 5, Seed: 1');
    assert.equal(meta.sampler, 'dpmpp_2m');
    assert.equal(meta.schedule, 'karras');
  });

  test('a sampler we do not implement is kept under its A1111 name', () => {
    const meta = parseInfotext('x\nSteps: 30, Sampler: DPM++ SDE, Schedule type: Exponential, CFG scale: 5, Seed: 1');
    assert.equal(meta.sampler, undefined);
    assert.deepEqual(meta.unmapped, { Sampler: 'DPM++ SDE', 'Schedule type': 'Exponential' });
  });

  test('a last line with fewer than three pairs is part of the prompt (A1111 rule)', () => {
    const meta = parseInfotext('portrait\nstyle: oil, mood: calm');
    assert.equal(meta.prompt, 'portrait\nstyle: oil, mood: calm');
    assert.equal(meta.steps, undefined);
  });

  test('a 64-bit seed stays exact', () => {
    assert.equal(parseInfotext('x\nSteps: 1, Seed: 18446744073709551615, CFG scale: 1').seed, 18446744073709551615n);
  });

  test('parameter pairs follow the re_param rules of infotext_utils', () => {
    assert.deepEqual(parseInfotextParams('Steps: 20, Size: 512x512, Lora hashes: "a: 1, b: 2", ADetailer model: face_yolov8n.pt'), [
      ['Steps', '20'],
      ['Size', '512x512'],
      ['Lora hashes', 'a: 1, b: 2'],
      ['ADetailer model', 'face_yolov8n.pt'],
    ]);
  });

  test('LoRA tags: default weight 1, lyco tags, separate te/unet weights use the first', () => {
    assert.deepEqual(extractLoraTags('<lora:a> cat, <lyco:b:0.3>, dog <lora:c:0.6:0.9>'), {
      prompt: 'cat, dog',
      loras: [
        { name: 'a', weight: 1 },
        { name: 'b', weight: 0.3 },
        { name: 'c', weight: 0.6 },
      ],
    });
    assert.deepEqual(extractLoraTags('no  tags  here'), { prompt: 'no  tags  here', loras: [] });
  });

  test('sampler label mapping', () => {
    assert.deepEqual(samplerFromA1111('Euler'), { sampler: 'euler' });
    assert.deepEqual(samplerFromA1111('DDIM'), { sampler: 'ddim' });
    assert.deepEqual(samplerFromA1111('LCM', 'Automatic'), { sampler: 'lcm' });
    assert.deepEqual(samplerFromA1111('Euler', 'Uniform'), { sampler: 'euler', schedule: 'normal' });
  });
});
