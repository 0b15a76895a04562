import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInvokeMetadata } from '../../../src/engine/interop/invokeai';
import { parseJsonLossless } from '../../../src/engine/interop/parseJsonLossless';
import { samplerFromComfy, samplerFromInvoke } from '../../../src/engine/output/samplerNames';

describe('parseInvokeMetadata', () => {
  test('4.x layout: model and LoRA references with name and hash, Karras scheduler suffix', () => {
    const meta = parseInvokeMetadata(
      '{"app_version":"4.2.7","generation_mode":"txt2img","positive_prompt":"a red fox","negative_prompt":"","width":640,"height":448,' +
        '"seed":18446744073709551615,"rand_device":"cpu","cfg_scale":7.5,"steps":30,"scheduler":"dpmpp_2m_k",' +
        '"model":{"key":"k1","hash":"blake3:abc","name":"Juggernaut XL","base":"sdxl","type":"main"},' +
        '"loras":[{"model":{"key":"k2","hash":"blake3:def","name":"watercolor_v2","base":"sdxl","type":"lora"},"weight":0.6}],' +
        '"controlnets":[],"strength":0.75}',
    );
    assert.deepEqual(meta, {
      source: 'invokeai',
      prompt: 'a red fox',
      seed: 18446744073709551615n,
      steps: 30,
      guidance: 7.5,
      sampler: 'dpmpp_2m',
      schedule: 'karras',
      width: 640,
      height: 448,
      model: 'Juggernaut XL',
      modelHash: 'blake3:abc',
      loras: [{ name: 'watercolor_v2', weight: 0.6, hash: 'blake3:def' }],
      unmapped: { app_version: '4.2.7', generation_mode: 'txt2img', rand_device: 'cpu' },
    });
  });

  test('3.x layout: model_name and lora.model_name; img2img strength; unknown scheduler kept', () => {
    const meta = parseInvokeMetadata(
      JSON.stringify({
        app_version: '3.3.0post3', generation_mode: 'img2img', positive_prompt: 'landscape', negative_prompt: 'low quality', seed: 356120443,
        cfg_scale: 7.5, steps: 50, scheduler: 'dpmpp_2m_sde_k', strength: 0.7,
        model: { model_name: 'amixx_3Prunedfp16', base_model: 'sd-1', model_type: 'main' },
        loras: [{ lora: { model_name: 'detail', base_model: 'sd-1' }, weight: 0.9 }],
      }),
    );
    assert.equal(meta?.model, 'amixx_3Prunedfp16');
    assert.deepEqual(meta?.loras, [{ name: 'detail', weight: 0.9 }]);
    assert.equal(meta?.denoise, 0.7);
    assert.equal(meta?.sampler, undefined);
    assert.equal(meta?.unmapped.scheduler, 'dpmpp_2m_sde_k');
    assert.equal(parseInvokeMetadata('[1,2]'), undefined);
  });

  test('scheduler and sampler name tables', () => {
    assert.deepEqual(samplerFromInvoke('euler_a'), { sampler: 'euler_a', schedule: 'normal' });
    assert.deepEqual(samplerFromInvoke('lcm'), { sampler: 'lcm', schedule: 'normal' });
    assert.deepEqual(samplerFromComfy('euler_ancestral', 'karras'), { sampler: 'euler_a', schedule: 'karras' });
    assert.deepEqual(samplerFromComfy('uni_pc', 'simple'), {});
  });
});

describe('parseJsonLossless', () => {
  test('keeps integers beyond 2^53 exact and leaves everything else as JSON.parse does', () => {
    const text = '{"a":9007199254740993,"b":-9223372036854775808,"c":9007199254740991,"d":1e21,"e":"9007199254740993","f":[1.5,"x\\"9007199254740993"]}';
    assert.deepEqual(parseJsonLossless(text), {
      a: 9007199254740993n,
      b: -9223372036854775808n,
      c: 9007199254740991,
      d: 1e21,
      e: '9007199254740993',
      f: [1.5, 'x"9007199254740993'],
    });
    assert.throws(() => parseJsonLossless('{"a":}'), SyntaxError);
  });
});
