// Real ComfyUI PNGs from comfyanonymous/ComfyUI_examples (see ../shared/fixtures/comfyui/README.md). The
// expected values were read from each file's `prompt` chunk.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { InputError } from '../../../src/engine/errors';
import { comfyWorkflowToGraph, metadataFromComfyGraph, parseComfyPrompt, parseComfyWorkflow, type ComfyGraph } from '../../../src/engine/interop/comfyui';
import { readImageMetadataFile } from '../../../src/engine/interop/readImageMetadata';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/comfyui/', import.meta.url));
const skip = existsSync(FIXTURES) ? false : `ComfyUI fixtures not found at ${FIXTURES}`;

async function read(name: string) {
  const report = await readImageMetadataFile(join(FIXTURES, name));
  assert.equal(report.metadata?.source, 'comfyui');
  assert.deepEqual(report.warnings, []);
  return report;
}

describe('ComfyUI fixtures', { skip }, () => {
  test('lora.png: KSampler, LoraLoader, checkpoint, empty latent', async () => {
    const { metadata } = await read('lora_lora.png');
    assert.deepEqual(metadata, {
      source: 'comfyui',
      prompt: 'masterpiece best quality girl',
      negative: 'bad hands',
      seed: 851616030078638,
      steps: 20,
      guidance: 8,
      sampler: 'euler',
      schedule: 'normal',
      model: 'v1-5-pruned-emaonly.ckpt',
      loras: [{ name: 'epiNoiseoffset_v2.safetensors', weight: 1 }],
      width: 512,
      height: 512,
      unmapped: {},
    });
  });

  test('img2img: VAEEncode of a loaded image, denoise 0.87, dpmpp_2m', async () => {
    const { metadata } = await read('img2img_img2img_workflow.png');
    assert.equal(metadata?.prompt, 'photograph of victorian woman with wings, sky clouds, meadow grass\n');
    assert.equal(metadata?.negative, 'watermark, text\n');
    assert.equal(metadata?.seed, 280823642470253);
    assert.equal(metadata?.steps, 20);
    assert.equal(metadata?.guidance, 8);
    assert.equal(metadata?.sampler, 'dpmpp_2m');
    assert.equal(metadata?.schedule, 'normal');
    assert.equal(metadata?.denoise, 0.8700000000000001);
    assert.equal(metadata?.initImage, 'example.png');
    assert.equal(metadata?.model, 'v1-5-pruned-emaonly.ckpt');
    assert.equal(metadata?.width, undefined, 'size comes from the input image, which the graph does not record');
  });

  test('controlnet: prompt found through ControlNetApply; uni_pc is not ours and stays unmapped', async () => {
    const { metadata } = await read('controlnet_controlnet_example.png');
    assert.match(metadata?.prompt ?? '', /^\(solo\) girl \(flat chest:0\.9\), \(fennec ears:1\.1\)\u00a0 \(fox ears:1\.1\)/);
    assert.match(metadata?.negative ?? '', /^\(hands\), text, error, cropped/);
    assert.equal(metadata?.seed, 1002496614778823);
    assert.equal(metadata?.steps, 16);
    assert.equal(metadata?.guidance, 6);
    assert.equal(metadata?.sampler, undefined);
    assert.equal(metadata?.model, 'Anything-V3.0.ckpt');
    assert.deepEqual(metadata?.unmapped, {
      sampler_name: 'uni_pc',
      ControlNetApply: 'control_scribble.safetensors, strength 0.8999999999999999, image input_scribble_example.png',
    });
  });

  test('SDXL Turbo: SamplerCustom with KSamplerSelect euler_ancestral and SDTurboScheduler', async () => {
    const { metadata } = await read('sdturbo_sdxlturbo_example.png');
    assert.equal(metadata?.prompt, 'beautiful landscape scenery glass bottle with a galaxy inside cute fennec fox snow HDR sunset');
    assert.equal(metadata?.negative, 'text, watermark');
    assert.equal(metadata?.seed, 0);
    assert.equal(metadata?.steps, 1);
    assert.equal(metadata?.guidance, 1);
    assert.equal(metadata?.sampler, 'euler_a');
    assert.equal(metadata?.model, 'sd_xl_turbo_1.0_fp16.safetensors');
    assert.deepEqual([metadata?.width, metadata?.height], [512, 512]);
    assert.deepEqual(metadata?.unmapped, { sigmas: 'SDTurboScheduler' });
  });

  test('the UI workflow alone gives the same reading as the API prompt', async () => {
    for (const name of ['lora_lora.png', 'img2img_img2img_workflow.png', 'controlnet_controlnet_example.png', 'sdturbo_sdxlturbo_example.png']) {
      const report = await read(name);
      const workflow = report.text.find((t) => t.keyword === 'workflow');
      assert.ok(workflow, `${name} has a workflow chunk`);
      assert.deepEqual(parseComfyWorkflow(workflow.text), report.metadata, name);
    }
  });

  test('hint images without a graph report no metadata', async () => {
    const report = await readImageMetadataFile(join(FIXTURES, 'controlnet_house_scribble.png'));
    assert.equal(report.metadata, undefined);
    assert.deepEqual(report.text, []);
  });
});

describe('ComfyUI graphs', () => {
  test('KSamplerAdvanced with LoraLoaderModelOnly chain, karras, linked seed and a 64-bit seed', () => {
    const meta = parseComfyPrompt(
      JSON.stringify({
        '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'base.safetensors' } },
        '2': { class_type: 'LoraLoaderModelOnly', inputs: { model: ['1', 0], lora_name: 'a.safetensors', strength_model: 0.5 } },
        '3': { class_type: 'LoraLoader', inputs: { model: ['2', 0], clip: ['1', 1], lora_name: 'b.safetensors', strength_model: 0.8, strength_clip: 0.4 } },
        '4': { class_type: 'CLIPTextEncode', inputs: { clip: ['3', 1], text: ['9', 0] } },
        '5': { class_type: 'CLIPTextEncode', inputs: { clip: ['3', 1], text: '' } },
        '6': { class_type: 'EmptyLatentImage', inputs: { width: 640, height: 384, batch_size: 4 } },
        '7': { class_type: 'KSamplerAdvanced', inputs: { model: ['3', 0], positive: ['4', 0], negative: ['5', 0], latent_image: ['6', 0], noise_seed: ['8', 0], steps: 25, cfg: 4.5, sampler_name: 'dpmpp_2m', scheduler: 'karras', start_at_step: 0, end_at_step: 10000, add_noise: 'enable', return_with_leftover_noise: 'disable' } },
        '8': { class_type: 'PrimitiveInt', inputs: { value: 'SEED' } },
        '9': { class_type: 'PrimitiveString', inputs: { value: 'a linked prompt' } },
      }).replace('"SEED"', '18446744073709551615'), // a literal JSON.stringify cannot write
    );
    assert.equal(meta?.seed, 18446744073709551615n);
    assert.equal(meta?.prompt, 'a linked prompt');
    assert.equal(meta?.negative, undefined);
    assert.deepEqual(meta?.loras, [
      { name: 'a.safetensors', weight: 0.5 },
      { name: 'b.safetensors', weight: 0.8 },
    ]);
    assert.equal(meta?.sampler, 'dpmpp_2m');
    assert.equal(meta?.schedule, 'karras');
    assert.equal(meta?.model, 'base.safetensors');
    assert.equal(meta?.unmapped.batch_size, '4');
    assert.equal(meta?.unmapped.strength_clip, 'b.safetensors: 0.4');
  });

  test('ControlNetApplyAdvanced: positive and negative sides follow output indices', () => {
    const graph: ComfyGraph = {
      '1': { class_type: 'CLIPTextEncode', inputs: { text: 'pos' } },
      '2': { class_type: 'CLIPTextEncode', inputs: { text: 'neg' } },
      '3': { class_type: 'ControlNetLoader', inputs: { control_net_name: 'canny.safetensors' } },
      '4': { class_type: 'ControlNetApplyAdvanced', inputs: { positive: ['1', 0], negative: ['2', 0], control_net: ['3', 0], image: ['5', 0], strength: 1, start_percent: 0, end_percent: 0.6 } },
      '5': { class_type: 'LoadImage', inputs: { image: 'edges.png' } },
      '6': { class_type: 'KSampler', inputs: { positive: ['4', 0], negative: ['4', 1], seed: 1, steps: 2, cfg: 3, sampler_name: 'lcm', scheduler: 'sgm_uniform', denoise: 1 } },
    };
    const meta = metadataFromComfyGraph(graph);
    assert.equal(meta?.prompt, 'pos');
    assert.equal(meta?.negative, 'neg');
    assert.equal(meta?.sampler, 'lcm');
    assert.equal(meta?.schedule, undefined);
    assert.deepEqual(meta?.unmapped, { scheduler: 'sgm_uniform', ControlNetApplyAdvanced: 'canny.safetensors, strength 1, start 0, end 0.6, image edges.png' });
  });

  test('a cyclic graph is an InputError naming the cycle, and non-graphs are not ComfyUI metadata', () => {
    const cyclic: ComfyGraph = {
      '1': { class_type: 'ConditioningZeroOut', inputs: { conditioning: ['2', 0] } },
      '2': { class_type: 'ConditioningZeroOut', inputs: { conditioning: ['1', 0] } },
      '3': { class_type: 'KSampler', inputs: { positive: ['1', 0], negative: ['2', 0], model: ['4', 0], seed: 5 } },
      '4': { class_type: 'ModelPatch', inputs: { model: ['4', 0] } },
    };
    assert.throws(
      () => metadataFromComfyGraph(cyclic),
      (e: unknown) => e instanceof InputError && /cycle through its conditioning inputs: node 1 \(ConditioningZeroOut\) → node 2 \(ConditioningZeroOut\) → node 1$/.test(e.message),
    );
    assert.equal(parseComfyPrompt('not json'), undefined);
    assert.equal(parseComfyPrompt('{"1": {"class_type": "SaveImage", "inputs": {}}}'), undefined);
    assert.equal(comfyWorkflowToGraph({ nodes: 'x' }), undefined);
  });
});
