// A converted fp16 single-file checkpoint references the checkpoint's float16 weights through a hard
// link in each component folder instead of copying them (convert/convertCheckpoint.ts). On the seeded toy
// SD 1.5 model (tools/sd15_random, fp16 LDM file):
// - the folder's links are the checkpoint's inode, and the folder's own files are a fraction of its size;
//   a conversion that copies (link: false, or a link that fails as across filesystems) renders the same
//   bytes;
// - LoRAs (UNet in memory, text encoder by range through the link) and int8 (which now quantizes the
//   float16 weights behind Cast + Transpose) work on the linked folder, and no render writes into the
//   user's file (bytes, size, mtime unchanged);
// - a checkpoint edited in place (same inode): the folder whose links no longer match is dropped, another
//   copy of the old content converts again and renders the old content, the edited file renders the new.
// - a diffusers folder of fp16 files links each component's weights file the same way;
// - SDXL through the same builders: an fp16 copy of the toy SGM single file converts into linked folders
//   that render, with the kohya SDXL LoRA and at int8, exactly what a copying conversion renders.
// Without Debian's torch (tools only) these tests are skipped with the reason.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPrecision, convertCheckpoint, convertDiffusersFolder, createRenderService, findConvertedCheckpoint, readSafetensors, type RenderService, type RGBImage } from '../../src/engine/index';
import { onnxWeightTargets } from '../../src/engine/lora/onnxTargets';
import { readOnnxModelFiles, usedWeightBytes } from '../../src/engine/onnx/onnxModelFiles';
import { ensureSd15Checkpoints, sd15ReferenceUnavailable } from '../scale/sd15Random';
import { ensureSdxlRandom, sdxlReferenceUnavailable } from '../scale/sdxlRandom';
import { safetensorsBytes, values, writeSafetensors, type TensorSpec } from '../unit/lora/loraFixtures';

const skip = sd15ReferenceUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'imgprompt-linked-'));
const project = join(dir, 'project');
const ckptDir = join(project, 'checkpoints');
const cacheDir = join(dir, 'engine-cache');
const COMPONENTS = ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder'];
let service: RenderService;
let tokenizerDir = '';

after(async () => {
  await service?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

before(async () => {
  if (skip) return;
  const { onnx, checkpoints } = ensureSd15Checkpoints('toy');
  tokenizerDir = join(onnx, 'tokenizer');
  mkdirSync(join(project, '.git'), { recursive: true });
  mkdirSync(join(project, 'models'), { recursive: true });
  mkdirSync(ckptDir, { recursive: true });
  cpSync(join(checkpoints, 'sd15-random-toy-fp16.safetensors'), join(ckptDir, 'a.safetensors'));
  cpSync(join(checkpoints, 'sd15-random-toy-fp16.safetensors'), join(ckptDir, 'b.safetensors'));
  cpSync(tokenizerDir, join(ckptDir, 'tokenizer'), { recursive: true });
  service = await createRenderService({ threads: 2, cacheDir });
});

const scene = (model: string, extra = '') =>
  `model: ${model}\nprompt: a red square on a blue background\nseed: 5\nsteps: 4\nguidance: 7\nsampler: euler\nwatermark: off\nsize: {width: 64, height: 64}\n${extra}`;

/** Plans and renders `text` as a scene of the project; returns the image and the conversions it started. */
async function render(name: string, text: string): Promise<{ image: RGBImage; conversions: string[] }> {
  const file = join(project, `${name}.imgprompt`);
  writeFileSync(file, text);
  const conversions: string[] = [];
  const plan = await service.plan({ file, context: { projectRoot: project } }, undefined, (p) => conversions.push(p.component));
  return { image: (await service.render(plan.jobs[0].job)).image, conversions };
}

function maxDiff(a: RGBImage, b: RGBImage): number {
  let max = 0;
  for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i] - b.data[i]));
  return max;
}

/** Bytes of a folder's files, not counting hard links to `source`. */
function ownBytes(folder: string, source: string): number {
  const ino = statSync(source).ino;
  let n = 0;
  for (const entry of readdirSync(folder, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const s = statSync(join(entry.parentPath, entry.name));
    if (s.ino !== ino) n += s.size;
  }
  return n;
}

function identity(path: string): { sha256: string; size: number; mtimeMs: number; ino: number } {
  const s = statSync(path);
  return { sha256: createHash('sha256').update(readFileSync(path)).digest('hex'), size: s.size, mtimeMs: s.mtimeMs, ino: s.ino };
}

/** A copy of `file` with its float32 tensors stored as float16 (other dtypes, never read by the builders, left out). */
async function asFloat16(file: string, to: string): Promise<void> {
  const source = await readSafetensors(file, { anyDtype: true });
  const tensors: TensorSpec[] = [];
  for (const [name, info] of source.tensors) if (info.dtype === 'F32') tensors.push({ name, dtype: 'F16', shape: [...info.shape], values: await source.tensor(name) });
  writeFileSync(to, safetensorsBytes(tensors));
}

const exdev = () => {
  throw Object.assign(new Error('EXDEV: cross-device link not permitted'), { code: 'EXDEV' });
};

describe('converted fp16 checkpoints reference their weights through hard links', { skip }, () => {
  let linked: RGBImage;

  test('each component folder links the checkpoint (same inode); copying conversions render the same bytes', { timeout: 600_000 }, async () => {
    const source = join(ckptDir, 'a.safetensors');
    const first = await render('a', scene('checkpoints/a.safetensors'));
    assert.deepEqual(first.conversions, ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder', 'done']);
    linked = first.image;
    const folder = findConvertedCheckpoint(source, cacheDir);
    assert.ok(folder);
    const record = JSON.parse(readFileSync(join(folder, 'linked_sources.json'), 'utf8')) as { links: { path: string; ino: number }[] };
    assert.deepEqual(record.links.map((l) => l.path), COMPONENTS.map((c) => `${c}/checkpoint.safetensors`));
    for (const c of COMPONENTS) assert.equal(statSync(join(folder, c, 'checkpoint.safetensors')).ino, statSync(source).ino, `${c} links the checkpoint`);
    // The float16 tensors the graphs read from the links (the toy's are few: its CLIP token table, widened
    // to float32, is most of its size; full-size SD 1.5's are 1.7 GB of 2.1).
    let inLinks = 0;
    for (const c of COMPONENTS) {
      const files = await readOnnxModelFiles(join(folder, c, 'model.onnx'));
      let used = 0;
      for (const init of files.info.initializers) if (init.data.kind === 'external' && init.data.location === 'checkpoint.safetensors') used += init.data.length ?? 0;
      inLinks += used;
      // The session cache budgets what the graph uses of the shared link, not the whole checkpoint.
      const written: number = ['model.onnx', 'model.onnx_data'].reduce((n, f) => n + statSync(join(folder, c, f)).size, 0);
      assert.equal(usedWeightBytes(files), written + used, `${c}: weight bytes`);
    }
    const own = ownBytes(folder, source);
    console.log(`linked folder: ${(own / 1e6).toFixed(2)} MB of its own, ${(inLinks / 1e6).toFixed(2)} MB read from the ${(statSync(source).size / 1e6).toFixed(2)} MB checkpoint through links`);
    assert.ok(inLinks > 0.05 * statSync(source).size, `${inLinks} bytes in links`);

    // Copies instead of links: by choice, and where the link fails (another filesystem).
    for (const [name, link] of [['copied', false], ['exdev', exdev]] as const) {
      const out = join(project, 'models', name);
      await convertCheckpoint(source, { out, tokenizerDir, link });
      assert.ok(!existsSync(join(out, 'linked_sources.json')) && COMPONENTS.every((c) => !existsSync(join(out, c, 'checkpoint.safetensors'))), `${name}: no links`);
      // (model.onnx names the link's longer location, a few bytes per tensor: hence not exactly.)
      assert.ok(ownBytes(out, source) - own > 0.99 * inLinks, `${name}: the linked tensors are copied (${ownBytes(out, source)} bytes)`);
      assert.equal(maxDiff((await render(name, scene(`./models/${name}`))).image, linked), 0, `${name} renders what the linked folder renders`);
    }
  });

  test('LoRA (UNet and text encoder) and int8 renders on the linked folder; the checkpoint is never written', { timeout: 600_000 }, async () => {
    const source = join(ckptDir, 'a.safetensors');
    const before = identity(source);
    const folder = findConvertedCheckpoint(source, cacheDir)!;
    // A kohya LoRA on square and non-square projections of both components, shaped after the graph.
    const tensors: TensorSpec[] = [];
    let seed = 1;
    for (const [component, prefix, keys] of [
      ['unet', 'lora_unet_', ['down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q', 'down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k', 'mid_block_attentions_0_transformer_blocks_0_ff_net_2']],
      ['text_encoder', 'lora_te_', ['text_model_encoder_layers_0_self_attn_q_proj', 'text_model_encoder_layers_1_mlp_fc1']],
    ] as const) {
      const info = (await readOnnxModelFiles(join(folder, component, 'model.onnx'))).info;
      for (const key of keys) {
        const target = onnxWeightTargets(info).find(key);
        assert.equal(target?.transposed, true, `${key}: the linked [out, in] weight behind a Transpose`);
        const [out, inner] = target.initializer.dims;
        tensors.push({ name: `${prefix}${key}.lora_down.weight`, dtype: 'F32', shape: [2, inner], values: values(2 * inner, seed++, 0.6) });
        tensors.push({ name: `${prefix}${key}.lora_up.weight`, dtype: 'F32', shape: [out, 2], values: values(2 * out, seed++, 0.6) });
      }
    }
    mkdirSync(join(project, 'loras'), { recursive: true });
    writeSafetensors(join(project, 'loras'), 'toy.safetensors', tensors);
    const lora = (weight: number) => `loras:\n  - file: loras/toy.safetensors\n    weight: ${weight}\n`;
    const styled = (await render('lora', scene('checkpoints/a.safetensors', lora(1)))).image;
    assert.ok(maxDiff(styled, linked) > 8, 'the LoRA changes the render');
    assert.equal(maxDiff((await render('lora0', scene('checkpoints/a.safetensors', lora(0)))).image, linked), 0, 'weight 0 renders as without the LoRA');
    assert.equal(maxDiff((await render('lora-copied', scene('./models/copied', lora(1)))).image, styled), 0, 'the copying conversion patches to the same render');

    const { report } = await applyPrecision(await readOnnxModelFiles(join(folder, 'unet', 'model.onnx')), 'int8');
    console.log(`int8 on the linked UNet: ${report.tensors} MatMuls quantized, ${report.biasesFolded} biases folded`);
    assert.ok(report.tensors > 0, 'int8 quantizes the float16 weights');
    const int8 = (await render('int8', scene('checkpoints/a.safetensors', 'precision: int8\n'))).image;
    assert.ok(maxDiff(int8, linked) > 0, 'int8 renders differently from float32');
    assert.equal(maxDiff((await render('int8-copied', scene('./models/copied', 'precision: int8\n'))).image, int8), 0, 'and the same as on the copying conversion');
    await render('lora-int8', scene('checkpoints/a.safetensors', `${lora(0.7)}precision: int8\n`));
    assert.deepEqual(identity(source), before, 'the checkpoint (and so the links) keep their bytes, size and mtime');
  });

  test('a diffusers folder of fp16 files: each component links its own weights file; renders equal a copying conversion', { timeout: 600_000 }, async () => {
    const { checkpoints } = ensureSd15Checkpoints('toy');
    const folder = join(dir, 'diffusers-fp16');
    cpSync(join(checkpoints, 'diffusers'), folder, { recursive: true });
    const weights = { text_encoder: 'model.safetensors', unet: 'diffusion_pytorch_model.safetensors', vae: 'diffusion_pytorch_model.safetensors' };
    for (const [component, name] of Object.entries(weights)) await asFloat16(join(checkpoints, 'diffusers', component, name), join(folder, component, name));
    const before = Object.fromEntries(Object.entries(weights).map(([c, name]) => [c, identity(join(folder, c, name))]));
    await convertDiffusersFolder(folder, { out: join(project, 'models', 'diffusers-linked') });
    await convertDiffusersFolder(folder, { out: join(project, 'models', 'diffusers-copied'), link: false });
    for (const c of COMPONENTS) {
      const from = c.startsWith('vae') ? 'vae' : (c as 'unet' | 'text_encoder');
      assert.equal(statSync(join(project, 'models', 'diffusers-linked', c, 'checkpoint.safetensors')).ino, before[from].ino, `${c} links ${from}/${weights[from]}`);
    }
    const image = (await render('diffusers-linked', scene('./models/diffusers-linked'))).image;
    assert.equal(maxDiff((await render('diffusers-copied', scene('./models/diffusers-copied'))).image, image), 0);
    assert.ok(maxDiff(image, linked) <= 2, 'and what the single file of the same weights renders');
    for (const [c, name] of Object.entries(weights)) assert.deepEqual(identity(join(folder, c, name)), before[c], `${c} is never written`);
  });

  test('a checkpoint edited in place: its stale folder is dropped; the other copy renders the old content, the edited file the new', { timeout: 600_000 }, async () => {
    const a = join(ckptDir, 'a.safetensors');
    const b = join(ckptDir, 'b.safetensors');
    // b holds the same bytes: it maps to the same folder, hashed, not converted.
    assert.deepEqual((await render('b', scene('checkpoints/b.safetensors'))).conversions, []);
    const folder = findConvertedCheckpoint(b, cacheDir)!;
    assert.equal(findConvertedCheckpoint(a, cacheDir), folder);
    // Edit a in place: negate the UNet's output convolution (same file, same size).
    const range = (await readSafetensors(a, { anyDtype: true })).storedRange('model.diffusion_model.out.2.weight');
    const bytes = new Uint8Array(range.length);
    const fd = openSync(a, 'r+');
    try {
      readSync(fd, bytes, 0, bytes.length, range.position);
      for (let i = 1; i < bytes.length; i += 2) bytes[i] ^= 0x80;
      writeSync(fd, bytes, 0, bytes.length, range.position);
    } finally {
      closeSync(fd);
    }
    assert.notEqual(statSync(join(folder, 'unet', 'checkpoint.safetensors')).mtimeMs, JSON.parse(readFileSync(join(folder, 'linked_sources.json'), 'utf8')).links[1].mtimeMs);
    // b's index entry still names the old content's folder, whose links now hold the new: dropped, converted again from b.
    assert.equal(findConvertedCheckpoint(b, cacheDir), undefined);
    const old = await render('b-again', scene('checkpoints/b.safetensors'));
    assert.deepEqual(old.conversions, ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder', 'done']);
    assert.equal(maxDiff(old.image, linked), 0, 'b renders the old content');
    assert.equal(statSync(join(findConvertedCheckpoint(b, cacheDir)!, 'unet', 'checkpoint.safetensors')).ino, statSync(b).ino, 'now linked to b');
    // a: new content, a new folder.
    const edited = await render('a-edited', scene('checkpoints/a.safetensors'));
    assert.deepEqual(edited.conversions, ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder', 'done']);
    assert.ok(maxDiff(edited.image, linked) > 8, 'the edit shows');
    await convertCheckpoint(a, { out: join(project, 'models', 'edited-copy'), tokenizerDir, link: false });
    assert.equal(maxDiff((await render('edited-copy', scene('./models/edited-copy'))).image, edited.image), 0, 'a renders the new content, as a copy of it does');
  });
});

describe('SDXL: an fp16 single file converts into linked folders', { skip: sdxlReferenceUnavailable() }, () => {
  test('links in every component the builders read ranges for; renders (plain, LoRA, int8) equal the copying conversion\'s', { timeout: 600_000 }, async () => {
    const files = ensureSdxlRandom('toy');
    // The toy file is float32: its float tensors as float16 (the int64 position ids are never read).
    const file = join(dir, 'sdxl-fp16.safetensors');
    await asFloat16(files.singleFile, file);
    const before = identity(file);
    const models = join(project, 'models');
    mkdirSync(models, { recursive: true });
    await convertCheckpoint(file, { out: join(models, 'sdxl-linked'), tokenizerDir: join(files.onnx, 'tokenizer') });
    await convertCheckpoint(file, { out: join(models, 'sdxl-copied'), tokenizerDir: join(files.onnx, 'tokenizer'), link: false });
    // text_encoder_2 (OpenCLIP's fused attention, split by the view) is built from values, not ranges.
    for (const c of ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder']) assert.equal(statSync(join(models, 'sdxl-linked', c, 'checkpoint.safetensors')).ino, before.ino, `${c} links the file`);
    mkdirSync(join(project, 'loras'), { recursive: true });
    cpSync(join(files.root, 'lora_kohya.safetensors'), join(project, 'loras', 'sdxl-style.safetensors'));
    const sdxl = (model: string, extra = '') => `model: ./models/${model}\nprompt: a red square on a blue background\nnegative: blurry\nseed: 5\nsteps: 4\nguidance: 6\nsampler: euler\nwatermark: off\nsize: {width: 128, height: 96}\n${extra}`;
    const lora = 'loras:\n  - file: loras/sdxl-style.safetensors\n    weight: 0.8\n';
    const plain = (await render('sdxl-linked', sdxl('sdxl-linked'))).image;
    assert.equal(maxDiff((await render('sdxl-copied', sdxl('sdxl-copied'))).image, plain), 0);
    const styled = (await render('sdxl-linked-lora', sdxl('sdxl-linked', lora))).image;
    assert.ok(maxDiff(styled, plain) > 0, 'the LoRA changes the render');
    assert.equal(maxDiff((await render('sdxl-copied-lora', sdxl('sdxl-copied', lora))).image, styled), 0);
    const int8 = (await render('sdxl-linked-int8', sdxl('sdxl-linked', 'precision: int8\n'))).image;
    assert.equal(maxDiff((await render('sdxl-copied-int8', sdxl('sdxl-copied', 'precision: int8\n'))).image, int8), 0);
    assert.ok((await applyPrecision(await readOnnxModelFiles(join(models, 'sdxl-linked', 'unet', 'model.onnx')), 'int8')).report.tensors > 0);
    assert.deepEqual(identity(file), before, 'the file is never written');
  });
});
