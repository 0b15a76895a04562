// Telling checkpoint families apart from tensor names and shapes, refusing pickles and truncated files,
// and the scene diagnostic for a `model:` that names a weights file. The files are real safetensors
// files whose headers carry each family's characteristic keys and shapes (data zero-filled).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeScene, checkpointSummary, describeCheckpoint, InputError, PickleCheckpointError, readCheckpointHeader } from '../../../src/engine/index';
import { checkScene } from '../../../src/engine/scene/checkScene';

const dir = mkdtempSync(join(tmpdir(), 'imgprompt-ckpt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type Spec = Record<string, readonly number[]>;

/** Writes a safetensors file with these F16 tensors (zeros); `truncate` drops bytes from the end. */
function safetensors(name: string, tensors: Spec, truncate = 0): string {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [key, shape] of Object.entries(tensors)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[key] = { dtype: 'F16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([length, json, Buffer.alloc(Math.max(0, offset - truncate))]));
  return path;
}

/** A few keys of each part of an LDM single-file SD checkpoint, with the shapes detection reads. */
function ldmUNet(inChannels: number, context: number): Spec {
  const p = 'model.diffusion_model.';
  return {
    [`${p}input_blocks.0.0.weight`]: [320, inChannels, 3, 3],
    [`${p}input_blocks.0.0.bias`]: [320],
    [`${p}input_blocks.1.0.in_layers.0.weight`]: [320],
    [`${p}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight`]: [320, context],
    [`${p}middle_block.0.in_layers.0.weight`]: [1280],
    [`${p}out.2.weight`]: [4, 320, 3, 3],
    'first_stage_model.decoder.conv_in.weight': [512, 4, 3, 3],
  };
}

const cases: { name: string; tensors: Spec; family: string; label: RegExp; layout: string }[] = [
  { name: 'sd15.safetensors', tensors: { ...ldmUNet(4, 768), 'cond_stage_model.transformer.text_model.final_layer_norm.weight': [768] }, family: 'sd1', label: /^Stable Diffusion 1\.x$/, layout: 'ldm' },
  { name: 'sd15-inpaint.safetensors', tensors: { ...ldmUNet(9, 768), 'cond_stage_model.transformer.text_model.final_layer_norm.weight': [768] }, family: 'sd1', label: /inpainting/, layout: 'ldm' },
  { name: 'sd21.safetensors', tensors: { ...ldmUNet(4, 1024), 'cond_stage_model.model.ln_final.weight': [1024] }, family: 'sd2', label: /^Stable Diffusion 2\.x$/, layout: 'ldm' },
  {
    name: 'sdxl.safetensors',
    tensors: { ...ldmUNet(4, 2048), 'model.diffusion_model.label_emb.0.0.weight': [1280, 2816], 'conditioner.embedders.0.transformer.text_model.final_layer_norm.weight': [768], 'conditioner.embedders.1.model.ln_final.weight': [1280] },
    family: 'sdxl',
    label: /^Stable Diffusion XL$/,
    layout: 'ldm',
  },
  {
    name: 'flux1-dev.safetensors',
    tensors: { 'double_blocks.0.img_attn.norm.key_norm.scale': [128], 'img_in.weight': [3072, 64], 'guidance_in.in_layer.weight': [3072, 256], 'single_blocks.0.linear1.weight': [8, 8], 'final_layer.linear.weight': [64, 8], 'txt_in.weight': [3072, 8] },
    family: 'flux1',
    label: /^FLUX\.1$/,
    layout: 'diffusion-model',
  },
  {
    name: 'sd35.safetensors',
    tensors: Object.fromEntries(['joint_blocks.0.context_block.attn.qkv.weight', 'x_embedder.proj.weight', 'pos_embed', 't_embedder.mlp.0.weight', 'y_embedder.mlp.0.weight', 'context_embedder.weight'].map((k) => [`model.diffusion_model.${k}`, [4, 4]])),
    family: 'sd3',
    label: /Stable Diffusion 3/,
    layout: 'diffusion-model',
  },
  { name: 'z-image.safetensors', tensors: { 'cap_embedder.1.weight': [3840, 8], 'noise_refiner.0.attention.k_norm.weight': [128], 'x_embedder.weight': [8, 8] }, family: 'z-image', label: /^Z-Image$/, layout: 'diffusion-model' },
  { name: 'qwen-image.safetensors', tensors: { 'txt_norm.weight': [3584], 'img_in.weight': [3072, 64], 'proj_out.weight': [64, 8] }, family: 'qwen-image', label: /^Qwen-Image$/, layout: 'diffusion-model' },
  { name: 'hidream.safetensors', tensors: { 'caption_projection.0.linear.weight': [8, 8], 'x_embedder.proj.weight': [8, 8] }, family: 'hidream', label: /HiDream/, layout: 'diffusion-model' },
  { name: 'diffusers-unet.safetensors', tensors: { 'conv_in.weight': [320, 4, 3, 3], 'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight': [320, 768], 'conv_out.weight': [4, 320, 3, 3] }, family: 'sd1', label: /Stable Diffusion 1\.x/, layout: 'diffusers' },
  { name: 'style-lora.safetensors', tensors: { 'lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight': [320, 4], 'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': [4, 320] }, family: 'lora', label: /LoRA/, layout: 'other' },
];

describe('checkpoint families from tensor names and shapes', () => {
  for (const c of cases) {
    test(`${c.name}: ${c.family}`, () => {
      const d = describeCheckpoint(readCheckpointHeader(safetensors(c.name, c.tensors)));
      assert.equal(d.family, c.family);
      assert.match(d.label, c.label);
      assert.equal(d.layout, c.layout);
      assert.deepEqual(d.dtypes, ['F16']);
    });
  }

  test('an SD checkpoint lists its components, and the summary says what it is', () => {
    const d = describeCheckpoint(readCheckpointHeader(safetensors('sdxl-2.safetensors', cases[3].tensors)));
    assert.deepEqual(d.components, ['text encoder', 'second text encoder', 'VAE']);
    assert.match(checkpointSummary(d), /^Stable Diffusion XL single-file checkpoint \(with text encoder, second text encoder, VAE; [\d.]+ B parameters; F16\)$/);
    const sd2 = describeCheckpoint(readCheckpointHeader(safetensors('sd21-2.safetensors', cases[2].tensors)));
    assert.ok(sd2.details.some((line) => /v-prediction/.test(line)), 'SD 2.x says its prediction type cannot be read from shapes');
  });
});

describe('refusals', () => {
  test('a pickle is refused by extension and by content, with what to do instead', () => {
    const byName = join(dir, 'model.ckpt');
    writeFileSync(byName, Buffer.from([0x80, 0x02, 0x7d, 0x71]));
    const disguised = join(dir, 'disguised.safetensors');
    writeFileSync(disguised, Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(64)]));
    for (const path of [byName, disguised]) {
      assert.throws(() => readCheckpointHeader(path), (e: unknown) => e instanceof PickleCheckpointError && /never loads pickles/.test(e.message) && /safetensors/.test(e.message));
    }
  });

  test('a truncated file (a cut download) is an InputError that says so', () => {
    const path = safetensors('cut.safetensors', ldmUNet(4, 768), 1000);
    assert.throws(() => readCheckpointHeader(path), (e: unknown) => e instanceof InputError && /truncated/.test(e.message));
    const tiny = join(dir, 'tiny.safetensors');
    writeFileSync(tiny, Buffer.from([1, 2, 3]));
    assert.throws(() => readCheckpointHeader(tiny), (e: unknown) => e instanceof InputError && /truncated/.test(e.message));
  });
});

describe("a scene's model: naming a weights file", () => {
  const project = join(dir, 'project');
  mkdirSync(join(project, '.git'), { recursive: true });
  const models = join(__dirname, '..', '..', '..', 'models');
  const diagnose = (model: string, code = 'weights-file') => {
    const file = join(project, 'scene.imgprompt');
    const text = `model: ${model}\nprompt: a red circle\n`;
    writeFileSync(file, text);
    return analyzeScene(text, { file, projectRoot: project, builtinModelsDir: models }).diagnostics.filter((d) => d.code === code);
  };

  test('an SD 1.x single-file checkpoint is named as such and announced for conversion on first render (a warning)', () => {
    writeFileSync(join(project, 'dreamshaper.safetensors'), readFileSync(safetensors('ds.safetensors', cases[0].tensors)));
    const [d] = diagnose('dreamshaper.safetensors', 'checkpoint-unconverted');
    assert.ok(d, 'a checkpoint-unconverted diagnostic');
    assert.equal(d.severity, 'warning');
    assert.match(d.message, /Stable Diffusion 1\.x single-file checkpoint/);
    assert.match(d.message, /converted into an ONNX model folder on its first render/);
  });

  test('an SD 2.x single-file checkpoint is announced for conversion on first render too (a warning)', () => {
    writeFileSync(join(project, 'sd21.safetensors'), readFileSync(safetensors('sd21-3.safetensors', cases[2].tensors)));
    const [d] = diagnose('sd21.safetensors', 'checkpoint-unconverted');
    assert.ok(d, 'a checkpoint-unconverted diagnostic');
    assert.equal(d.severity, 'warning');
    assert.match(d.message, /Stable Diffusion 2\.x single-file checkpoint/);
  });

  test('an SDXL checkpoint is named as such and announced for conversion on first render (a warning)', () => {
    writeFileSync(join(project, 'sdxl.safetensors'), readFileSync(safetensors('x.safetensors', cases[3].tensors)));
    const [d] = diagnose('sdxl.safetensors', 'checkpoint-unconverted');
    assert.ok(d, 'a checkpoint-unconverted diagnostic');
    assert.equal(d.severity, 'warning');
    assert.match(d.message, /Stable Diffusion XL single-file checkpoint/);
    assert.match(d.message, /converted into an ONNX model folder on its first render/);
  });

  test("a checkpoint named bare and absent beside the scene is found in the configured model folders (A1111's models/Stable-diffusion); else the error lists where it looked", () => {
    const a1111 = join(dir, 'a1111', 'models', 'Stable-diffusion');
    const comfy = join(dir, 'comfy', 'models', 'checkpoints');
    mkdirSync(a1111, { recursive: true });
    mkdirSync(comfy, { recursive: true });
    writeFileSync(join(comfy, 'juggernaut.safetensors'), readFileSync(safetensors('j.safetensors', cases[3].tensors)));
    const file = join(project, 'scene.imgprompt');
    const text = 'model: juggernaut.safetensors\nprompt: a red circle\n';
    writeFileSync(file, text);
    const found = checkScene(text, { file, projectRoot: project, modelSearchPaths: [a1111, comfy] });
    const pending = found.diagnostics.find((d) => d.code === 'checkpoint-unconverted');
    assert.ok(pending, 'found in the second folder and announced for conversion');
    assert.match(pending.message, /Stable Diffusion XL single-file checkpoint/);
    assert.equal(found.pendingConversion, join(comfy, 'juggernaut.safetensors'));
    assert.equal(found.paths.get('model')?.ref, 'juggernaut.safetensors', 'the recipe names it by its bare name, not a path of this machine');
    const missing = checkScene(text.replace('juggernaut', 'absent'), { file, projectRoot: project, modelSearchPaths: [a1111] }).diagnostics.find((d) => d.code === 'weights-file');
    assert.ok(missing);
    assert.ok(missing.message.includes(join(a1111, 'absent.safetensors')) && missing.message.includes(join(project, 'absent.safetensors')), missing.message);
    const none = checkScene(text.replace('juggernaut', 'absent'), { file, projectRoot: project }).diagnostics.find((d) => d.code === 'weights-file');
    assert.match(none?.message ?? '', /no model folders are configured/);
  });

  test('a FLUX file is named as a family the local engine does not run; a pickle is refused', () => {
    writeFileSync(join(project, 'flux.safetensors'), readFileSync(safetensors('f.safetensors', cases[4].tensors)));
    assert.match(diagnose('./flux.safetensors')[0].message, /FLUX\.1 .*does not run/);
    writeFileSync(join(project, 'old.ckpt'), Buffer.from([0x80, 0x04]));
    assert.match(diagnose('old.ckpt')[0].message, /never loads pickles/);
  });
});
