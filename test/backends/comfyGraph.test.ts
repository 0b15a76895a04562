// The ComfyUI graphs of the flow-matching families, node by node against the published example
// workflows (Comfy-Org/workflow_templates: flux_dev_full_text_to_image.json, image_z_image_turbo.json,
// image_qwen_image.json): which core nodes, which loader types, which inputs carry which values, and how
// they are linked. Facts only: our graphs are built from the request, not copied.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildComfyGraph, familyDefaults, jsonWithBigInts, parsePreviewFrame, validateFamilyKeys, type ComfyApiGraph, type RemoteFamily, type RemoteRequest } from '../../src/engine/index';

function request(family: RemoteFamily, model: string, extra: Partial<RemoteRequest> = {}): RemoteRequest {
  const d = familyDefaults(family);
  return {
    family,
    model,
    textEncoders: d.textEncoders,
    vae: d.vae,
    prompt: 'a lighthouse at dusk',
    negative: '',
    seed: '42',
    width: 1024,
    height: 1024,
    steps: 20,
    cfg: 1,
    sampler: 'euler',
    scheduler: 'simple',
    loras: [],
    control: [],
    init: null,
    shift: d.shift,
    distilledGuidance: d.distilledGuidance,
    ...extra,
  };
}

/** The one node of a class, with its id. */
function only(graph: ComfyApiGraph, classType: string): { id: string; inputs: Record<string, unknown> } {
  const found = Object.entries(graph).filter(([, n]) => n.class_type === classType);
  assert.equal(found.length, 1, `expected one ${classType}, found ${found.length}`);
  return { id: found[0][0], inputs: found[0][1].inputs };
}
const linkTo = (graph: ComfyApiGraph, link: unknown) => graph[(link as [string, number])[0]].class_type;
const classes = (graph: ComfyApiGraph) => Object.values(graph).map((n) => n.class_type).sort();

describe('ComfyUI graphs per family, against the published example workflows', () => {
  test('FLUX.1 dev: UNETLoader + DualCLIPLoader(flux) + VAELoader, CLIPTextEncodeFlux with guidance 3.5, zeroed negative, EmptySD3LatentImage, KSampler cfg 1 euler/simple', () => {
    const g = buildComfyGraph(request('flux-dev', 'flux1-dev.safetensors'));
    assert.deepEqual(classes(g), ['CLIPTextEncodeFlux', 'ConditioningZeroOut', 'DualCLIPLoader', 'EmptySD3LatentImage', 'KSampler', 'SaveImage', 'UNETLoader', 'VAEDecode', 'VAELoader']);
    assert.deepEqual(only(g, 'UNETLoader').inputs, { unet_name: 'flux1-dev.safetensors', weight_dtype: 'default' });
    assert.deepEqual(only(g, 'DualCLIPLoader').inputs, { clip_name1: 'clip_l.safetensors', clip_name2: 't5xxl_fp16.safetensors', type: 'flux' });
    assert.deepEqual(only(g, 'VAELoader').inputs, { vae_name: 'ae.safetensors' });
    const enc = only(g, 'CLIPTextEncodeFlux').inputs;
    assert.equal(enc.guidance, 3.5);
    assert.equal(enc.clip_l, 'a lighthouse at dusk');
    assert.equal(enc.t5xxl, 'a lighthouse at dusk');
    assert.equal(linkTo(g, enc.clip), 'DualCLIPLoader');
    assert.deepEqual(only(g, 'EmptySD3LatentImage').inputs, { width: 1024, height: 1024, batch_size: 1 });
    const k = only(g, 'KSampler').inputs;
    assert.deepEqual([k.steps, k.cfg, k.sampler_name, k.scheduler, k.denoise], [20, 1, 'euler', 'simple', 1]);
    assert.equal(linkTo(g, k.model), 'UNETLoader');
    assert.equal(linkTo(g, k.positive), 'CLIPTextEncodeFlux');
    assert.equal(linkTo(g, k.negative), 'ConditioningZeroOut');
    assert.equal(linkTo(g, k.latent_image), 'EmptySD3LatentImage');
    assert.equal(linkTo(g, only(g, 'ConditioningZeroOut').inputs.conditioning), 'CLIPTextEncodeFlux');
    assert.equal(linkTo(g, only(g, 'VAEDecode').inputs.vae), 'VAELoader');
    assert.equal(linkTo(g, only(g, 'SaveImage').inputs.images), 'VAEDecode');
  });

  test('FLUX.1 schnell: no guidance embedding, so plain CLIPTextEncode; a distilled_guidance is refused for it', () => {
    const g = buildComfyGraph(request('flux-schnell', 'flux1-schnell.safetensors', { steps: 4 }));
    assert.equal(Object.values(g).some((n) => n.class_type === 'CLIPTextEncodeFlux'), false);
    assert.equal(only(g, 'KSampler').inputs.steps, 4);
    assert.throws(() => validateFamilyKeys('flux-schnell', { distilledGuidance: 3.5 }), /does not apply to flux-schnell.*flux-dev/);
  });

  test('Z-Image Turbo: CLIPLoader(lumina2) for qwen_3_4b, ModelSamplingAuraFlow shift 3 between the model and KSampler, 8 steps res_multistep, zeroed negative', () => {
    const g = buildComfyGraph(request('z-image', 'z_image_turbo_bf16.safetensors', { steps: 8, sampler: 'res_multistep' }));
    assert.deepEqual(classes(g), ['CLIPLoader', 'CLIPTextEncode', 'ConditioningZeroOut', 'EmptySD3LatentImage', 'KSampler', 'ModelSamplingAuraFlow', 'SaveImage', 'UNETLoader', 'VAEDecode', 'VAELoader']);
    assert.deepEqual(only(g, 'CLIPLoader').inputs, { clip_name: 'qwen_3_4b.safetensors', type: 'lumina2' });
    assert.deepEqual(only(g, 'VAELoader').inputs, { vae_name: 'ae.safetensors' });
    const shift = only(g, 'ModelSamplingAuraFlow').inputs;
    assert.equal(shift.shift, 3);
    assert.equal(linkTo(g, shift.model), 'UNETLoader');
    const k = only(g, 'KSampler').inputs;
    assert.equal(linkTo(g, k.model), 'ModelSamplingAuraFlow');
    assert.deepEqual([k.steps, k.cfg, k.sampler_name, k.scheduler], [8, 1, 'res_multistep', 'simple']);
    assert.equal(linkTo(g, k.negative), 'ConditioningZeroOut');
  });

  test('Qwen-Image: CLIPLoader(qwen_image), qwen_image_vae, ModelSamplingAuraFlow 3.5, a real negative prompt at cfg 4, 1328² latent', () => {
    const g = buildComfyGraph(request('qwen-image', 'qwen_image_fp8_e4m3fn.safetensors', { cfg: 4, negative: 'low quality', width: 1328, height: 1328 }));
    assert.deepEqual(only(g, 'CLIPLoader').inputs, { clip_name: 'qwen_2.5_vl_7b_fp8_scaled.safetensors', type: 'qwen_image' });
    assert.deepEqual(only(g, 'VAELoader').inputs, { vae_name: 'qwen_image_vae.safetensors' });
    assert.deepEqual(only(g, 'UNETLoader').inputs, { unet_name: 'qwen_image_fp8_e4m3fn.safetensors', weight_dtype: 'default' });
    assert.equal(only(g, 'ModelSamplingAuraFlow').inputs.shift, 3.5);
    assert.deepEqual(only(g, 'EmptySD3LatentImage').inputs, { width: 1328, height: 1328, batch_size: 1 });
    const k = only(g, 'KSampler').inputs;
    assert.equal(k.cfg, 4);
    const negative = g[(k.negative as [string, number])[0]];
    assert.deepEqual([negative.class_type, negative.inputs.text], ['CLIPTextEncode', 'low quality']);
    assert.equal(Object.values(g).some((n) => n.class_type === 'ConditioningZeroOut'), false);
  });

  test('shift is validated against the family: accepted for Z-Image and Qwen-Image, refused for SD and FLUX', () => {
    assert.doesNotThrow(() => validateFamilyKeys('z-image', { shift: 6 }));
    assert.doesNotThrow(() => validateFamilyKeys('qwen-image', { shift: 2 }));
    assert.throws(() => validateFamilyKeys('sd', { shift: 3 }), /shift 3 does not apply to sd models.*z-image, qwen-image/);
    assert.throws(() => validateFamilyKeys('flux-dev', { shift: 3 }), /does not apply to flux-dev/);
    assert.doesNotThrow(() => validateFamilyKeys('flux-dev', { distilledGuidance: 2.5 }));
  });

  test('Stable Diffusion: the API example graph (CheckpointLoaderSimple, CLIPTextEncode ×2, EmptyLatentImage, KSampler, VAEDecode, SaveImage) with LoRAs chained and ControlNets applied', () => {
    const png = Buffer.from('89504e47', 'hex');
    const g = buildComfyGraph(
      request('sd', 'v1-5-pruned-emaonly.safetensors', {
        cfg: 7,
        negative: 'blurry',
        sampler: 'euler_ancestral',
        scheduler: 'karras',
        loras: [{ name: 'a.safetensors', weight: 0.5 }, { name: 'b.safetensors', weight: 1 }],
        control: [{ type: 'canny', png, uploadName: 'hint.png', controlNet: 'control_v11p_sd15_canny.pth', strength: 0.8, start: 0, end: 0.6 }],
      }),
    );
    assert.deepEqual(only(g, 'CheckpointLoaderSimple').inputs, { ckpt_name: 'v1-5-pruned-emaonly.safetensors' });
    const loras = Object.values(g).filter((n) => n.class_type === 'LoraLoader');
    assert.deepEqual(loras.map((l) => [l.inputs.lora_name, l.inputs.strength_model, l.inputs.strength_clip]), [['a.safetensors', 0.5, 0.5], ['b.safetensors', 1, 1]]);
    assert.equal(linkTo(g, loras[1].inputs.model), 'LoraLoader');
    const apply = only(g, 'ControlNetApplyAdvanced').inputs;
    assert.deepEqual([apply.strength, apply.start_percent, apply.end_percent], [0.8, 0, 0.6]);
    assert.equal(linkTo(g, apply.image), 'LoadImage');
    assert.equal(linkTo(g, apply.control_net), 'ControlNetLoader');
    const k = only(g, 'KSampler').inputs;
    assert.equal(linkTo(g, k.positive), 'ControlNetApplyAdvanced');
    assert.equal((k.negative as [string, number])[1], 1, 'the negative is the apply node\'s second output');
    assert.equal(linkTo(g, k.latent_image), 'EmptyLatentImage');
    assert.equal(only(g, 'SaveImage').inputs.filename_prefix, 'imgprompt');
  });

  test('an init image is encoded (LoadImage → VAEEncode) and its strength is KSampler denoise', () => {
    const g = buildComfyGraph(request('sd', 'x.safetensors', { init: { png: Buffer.alloc(1), uploadName: 'init.png', strength: 0.6 } }));
    const k = only(g, 'KSampler').inputs;
    assert.equal(k.denoise, 0.6);
    assert.equal(linkTo(g, k.latent_image), 'VAEEncode');
  });

  test('preview frames: type 1 with its image-type word, type 4 with a metadata length and JSON; others ignored', () => {
    const jpeg = Buffer.from([0xff, 0xd8, 0xff]);
    const head = (a: number, b: number) => {
      const h = Buffer.alloc(8);
      h.writeUInt32BE(a, 0);
      h.writeUInt32BE(b, 4);
      return h;
    };
    assert.deepEqual(parsePreviewFrame(Buffer.concat([head(1, 1), jpeg])), { format: 'jpeg', bytes: jpeg });
    assert.equal(parsePreviewFrame(Buffer.concat([head(1, 2), jpeg]))?.format, 'png');
    const meta = Buffer.from(JSON.stringify({ node_id: '5', prompt_id: 'p1', image_type: 'image/png' }));
    assert.deepEqual(parsePreviewFrame(Buffer.concat([head(4, meta.length), meta, jpeg])), { format: 'png', bytes: jpeg, promptId: 'p1' });
    assert.equal(parsePreviewFrame(Buffer.concat([head(4, 999), meta])), undefined, 'a metadata length past the frame');
    assert.equal(parsePreviewFrame(Buffer.concat([head(3, 1), jpeg])), undefined, 'a TEXT frame');
    assert.equal(parsePreviewFrame(Buffer.from([0, 0, 0, 1])), undefined, 'a short frame');
  });

  test('a 64-bit seed goes out as an exact JSON integer (ComfyUI seeds reach 2^64 − 1)', () => {
    const g = buildComfyGraph(request('sd', 'x.safetensors', { seed: '18446744073709551615' }));
    const text = jsonWithBigInts({ prompt: g });
    assert.match(text, /"seed":18446744073709551615[,}]/);
    assert.equal(only(buildComfyGraph(request('sd', 'x.safetensors', { seed: '7' })), 'KSampler').inputs.seed, 7);
  });
});
