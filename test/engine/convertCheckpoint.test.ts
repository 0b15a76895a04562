// Single-file SD 1.x checkpoints through imgprompt's own converter, against the reference: the seeded
// toy SD 1.5-architecture model, written by tools/sd15_random both as an optimum ONNX export (torch's
// graphs) and as LDM single-file checkpoints (fp32, fp16) of the same weights. The converted folder must
// render what the export renders; the CLI converts with progress; refusals name what is wrong.
// Without Debian's torch (tools only) these tests are skipped with the reason.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { analyzeScene, CancelledError, convertCheckpoint, createRenderService, ensureConvertedCheckpoint, FileHashCache, findConvertedCheckpoint, InputError, ModelError, type RenderService, type RGBImage } from '../../src/engine/index';
import { ensureSd15Checkpoints, repoRoot, sd15ReferenceUnavailable } from '../scale/sd15Random';
import { loadCLIPTokenizer } from '../../src/engine/tokenizer';
import { onnxWeightTargets } from '../../src/engine/lora/onnxTargets';
import { fromFloat16Bits, toFloat16Bits } from '../../src/engine/onnx/float16';
import { readInitializerBytes, readOnnxModelFiles } from '../../src/engine/onnx/onnxModelFiles';

const skip = sd15ReferenceUnavailable();

const dir = mkdtempSync(join(tmpdir(), 'imgprompt-convert-'));
const project = join(dir, 'project');
let exportDir = '';
let service: RenderService;
after(async () => {
  await service?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

before(async () => {
  if (skip) return;
  let checkpoints: string;
  ({ onnx: exportDir, checkpoints } = ensureSd15Checkpoints('toy'));
  cpSync(checkpoints, join(dir, 'ckpt'), { recursive: true });
  mkdirSync(join(project, '.git'), { recursive: true });
  mkdirSync(join(project, 'models'));
  cpSync(exportDir, join(project, 'models', 'export'), { recursive: true });
  service = await createRenderService({ threads: 2 });
});

async function render(model: string, extra = ''): Promise<RGBImage> {
  const text = `model: ./models/${model}\nprompt: a red square on a blue background\nseed: 5\nsteps: 6\nguidance: 7\nsampler: euler\nwatermark: off\nsize: {width: 128, height: 128}\n${extra}`;
  const file = join(project, `${model}.imgprompt`);
  writeFileSync(file, text);
  const plan = await service.plan({ file, context: { projectRoot: project } });
  return (await service.render(plan.jobs[0].job)).image;
}

function compare(a: RGBImage, b: RGBImage): { max: number; psnr: number } {
  let max = 0;
  let squared = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    max = Math.max(max, d);
    squared += d * d;
  }
  const mse = squared / a.data.length;
  return { max, psnr: mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse) };
}

describe('imgprompt convert: SD 1.x single-file checkpoints', () => {
  test('an fp32 checkpoint converts into a folder that renders what the optimum export renders', { skip, timeout: 600_000 }, async () => {
    const progress: string[] = [];
    const result = await convertCheckpoint(join(dir, 'ckpt', 'sd15-random-toy.safetensors'), {
      out: join(project, 'models', 'converted'),
      tokenizerDir: join(exportDir, 'tokenizer'),
      onProgress: (p) => progress.push(p.component),
    });
    assert.deepEqual(progress, ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder', 'done']);
    // The configs read off the shapes are the ones the diffusers folder of the same model records.
    const reference = JSON.parse(readFileSync(join(dir, 'ckpt', 'diffusers', 'unet', 'config.json'), 'utf8')) as Record<string, unknown>;
    for (const key of ['block_out_channels', 'layers_per_block', 'cross_attention_dim', 'down_block_types', 'up_block_types', 'attention_head_dim', 'in_channels', 'out_channels', 'use_linear_projection']) {
      assert.deepEqual(result.configs.unet[key], reference[key], `unet ${key}`);
    }
    assert.equal(result.configs.prediction.type, 'epsilon');
    const fromExport = await render('export');
    const converted = await render('converted');
    const { max, psnr } = compare(fromExport, converted);
    console.log(`converted fp32 checkpoint vs optimum export: max pixel difference ${max}, PSNR ${psnr.toFixed(1)} dB; converted in ${(result.milliseconds / 1000).toFixed(2)} s`);
    // Different graphs of the same weights: float rounding differs in the last bits, so a pixel may move
    // by a level or two after the 8-bit rounding; nothing more.
    assert.ok(max <= 2, `max pixel difference ${max}`);
    assert.ok(psnr > 60, `PSNR ${psnr.toFixed(1)} dB`);
  });

  test('an fp16 checkpoint converts too, and renders close to float32 (its weights are fp16-rounded)', { skip, timeout: 600_000 }, async () => {
    await convertCheckpoint(join(dir, 'ckpt', 'sd15-random-toy-fp16.safetensors'), { out: join(project, 'models', 'converted16'), tokenizerDir: join(exportDir, 'tokenizer') });
    const { psnr } = compare(await render('export'), await render('converted16'));
    console.log(`converted fp16 checkpoint vs float32 optimum export: PSNR ${psnr.toFixed(1)} dB`);
    assert.ok(psnr > 40, `PSNR ${psnr.toFixed(1)} dB against the float32 export`);
  });

  test('an fp16 checkpoint\'s conv and linear weights stay float16 (behind a Cast): a smaller folder, the same values, LoRA targets found', { skip, timeout: 600_000 }, async () => {
    const unet = await readOnnxModelFiles(join(project, 'models', 'converted16', 'unet', 'model.onnx'));
    const reference = await readOnnxModelFiles(join(project, 'models', 'converted', 'unet', 'model.onnx'));
    const half = unet.info.initializers.filter((i) => i.dataType === 10);
    assert.ok(half.length > 0 && half.every((i) => i.dims.length === 4 || i.dims.length === 2), 'float16 initializers are conv and linear weights');
    // Conv weights are kept as stored, [out, in, kh, kw]; linear weights too ([out, in], behind a Transpose
    // for MatMul), where the float32 conversion stores them transposed, [in, out].
    for (const [name, opType, key] of [
      ['down_blocks.0.resnets.0.conv1.weight', 'Conv', 'down_blocks_0_resnets_0_conv1'],
      ['down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight', 'MatMul', 'down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k'],
    ] as const) {
      const stored = unet.info.initializers.find((i) => i.name === name);
      const ref = reference.info.initializers.find((i) => i.name === name)!;
      const transposed = opType === 'MatMul';
      assert.equal(stored?.dataType, 10, `${name} is stored as float16`);
      assert.deepEqual(stored.dims, transposed ? [...ref.dims].reverse() : ref.dims, `${name} has the float32 conversion's shape (transposed for a linear weight)`);
      const cast = unet.info.nodes.find((n) => n.opType === 'Cast' && n.inputs[0] === name);
      assert.ok(cast);
      assert.equal(unet.info.nodes.some((n) => n.opType === 'Transpose' && n.inputs[0] === cast.outputs[0]), transposed);
      // Its bits widen to the fp32 checkpoint's values rounded to float16: what the float32 path computes from the same file.
      const bits = new Uint16Array(Uint8Array.from((await readInitializerBytes(unet, stored))!).buffer);
      const fp32 = new Float32Array(Uint8Array.from((await readInitializerBytes(reference, ref))!).buffer);
      assert.equal(bits.length, fp32.length);
      const [rows, cols] = stored.dims;
      for (let i = 0; i < bits.length; i++) {
        const j = transposed ? (i % cols) * rows + Math.floor(i / cols) : i;
        assert.equal(fromFloat16Bits(bits[i]), Math.fround(fromFloat16Bits(toFloat16Bits(fp32[j]))), `${name}[${i}]`);
      }
      // LoRA keys reach the float16 weights through the Cast, as they reach any export's.
      const target = onnxWeightTargets(unet.info).find(key);
      assert.equal(target?.opType, opType);
      assert.equal(target?.initializer.name, name);
    }
    // The fp16 folder's float16 weights are the checkpoint's own bytes, through a hard link in each component folder.
    const size = (folder: string) => ['unet', 'vae_decoder', 'vae_encoder', 'text_encoder'].reduce((n, c) => n + statSync(join(project, 'models', folder, c, 'model.onnx_data')).size, 0);
    assert.ok(existsSync(join(project, 'models', 'converted16', 'unet', 'checkpoint.safetensors')));
    console.log(`converted weights: fp32 checkpoint ${(size('converted') / 1e6).toFixed(1)} MB, fp16 checkpoint ${(size('converted16') / 1e6).toFixed(1)} MB`);
    assert.ok(size('converted16') < 0.75 * size('converted'));
  });

  test('the CLI converts with progress and names the folder to use; the folder renders from a scene', { skip, timeout: 600_000 }, async () => {
    const cli = join(repoRoot, 'out', 'cli.js');
    assert.ok(existsSync(cli), 'out/cli.js (npm run build)');
    const out = join(project, 'models', 'by-cli');
    const result = spawnSync(process.execPath, [cli, 'convert', join(dir, 'ckpt', 'sd15-random-toy.safetensors'), '--out', out, '--tokenizer', join(exportDir, 'tokenizer')], { cwd: project, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /converting unet \(2\/4\)/);
    assert.match(result.stdout, /converted in [\d.]+ s .*model: models\/by-cli/);
    for (const f of ['model_index.json', 'unet/model.onnx', 'unet/model.onnx_data', 'unet/config.json', 'tokenizer/vocab.json', 'scheduler/scheduler_config.json']) assert.ok(existsSync(join(out, f)), f);
    const { max } = compare(await render('converted'), await render('by-cli'));
    assert.equal(max, 0, 'the same checkpoint converts to the same model');
  });

  test('refusals: an existing folder, a missing tokenizer folder (none given: the shipped CLIP vocabulary), a family this converter does not read', { skip, timeout: 120_000 }, async () => {
    const file = join(dir, 'ckpt', 'sd15-random-toy.safetensors');
    await assert.rejects(convertCheckpoint(file, { out: join(project, 'models', 'export'), tokenizerDir: join(exportDir, 'tokenizer') }), (e: unknown) => e instanceof InputError && /already exists/.test(e.message));
    const lonely = join(dir, 'lonely');
    mkdirSync(lonely);
    cpSync(file, join(lonely, basename(file)));
    await assert.rejects(
      convertCheckpoint(join(lonely, basename(file)), { out: join(dir, 'nope'), tokenizerDir: join(dir, 'no-such-tokenizer'), env: { HF_HUB_CACHE: join(dir, 'empty-hub') } }),
      (e: unknown) => e instanceof InputError && /carries no tokenizer/.test(e.message) && /--tokenizer/.test(e.message),
    );
    assert.ok(!existsSync(join(dir, 'nope')), 'nothing is left behind');
    // With nothing beside it and nothing given, the CLIP vocabulary this package ships is the tokenizer.
    const shipped = await convertCheckpoint(join(lonely, basename(file)), { out: join(dir, 'shipped-vocab'), env: { HF_HUB_CACHE: join(dir, 'empty-hub') } });
    assert.match(shipped.tokenizer, /bpe_simple_vocab_16e6\.txt\.gz$/);
    const vocab = JSON.parse(readFileSync(join(dir, 'shipped-vocab', 'tokenizer', 'vocab.json'), 'utf8')) as Record<string, number>;
    assert.equal(Object.keys(vocab).length, 49408);
    assert.deepEqual((await loadCLIPTokenizer(join(dir, 'shipped-vocab', 'tokenizer'))).encodePrompt('a photo of a cat').ids.slice(0, 7), [49406, 320, 1125, 539, 320, 2368, 49407]);
    await assert.rejects(
      convertCheckpoint(join(dir, 'ckpt', 'diffusers', 'unet', 'diffusion_pytorch_model.safetensors'), { out: join(dir, 'nope2') }),
      (e: unknown) => e instanceof ModelError && /diffusers UNet file/.test(e.message),
    );
  });

  test('a scene naming the .safetensors renders through a conversion made once per content, then cached', { skip, timeout: 600_000 }, async () => {
    const cacheDir = join(dir, 'engine-cache');
    const cached = await createRenderService({ threads: 2, cacheDir });
    try {
      // A single file as users keep it: in the project, with the tokenizer beside it.
      const ckptDir = join(project, 'checkpoints');
      mkdirSync(ckptDir, { recursive: true });
      cpSync(join(dir, 'ckpt', 'sd15-random-toy.safetensors'), join(ckptDir, 'toy.safetensors'));
      cpSync(join(exportDir, 'tokenizer'), join(ckptDir, 'tokenizer'), { recursive: true });
      const scene = (model: string) => `model: ${model}\nprompt: a red square on a blue background\nseed: 5\nsteps: 6\nguidance: 7\nsampler: euler\nwatermark: off\nsize: {width: 128, height: 128}\n`;
      const file = join(project, 'single.imgprompt');
      writeFileSync(file, scene('checkpoints/toy.safetensors'));
      // Before the first render the editor's check says it will be converted; nothing resolves yet.
      const before = analyzeScene(scene('checkpoints/toy.safetensors'), { file, projectRoot: project, checkpointCacheDir: cacheDir });
      assert.ok(before.diagnostics.some((d) => d.code === 'checkpoint-unconverted' && d.severity === 'warning' && /converted into an ONNX model folder on its first render/.test(d.message)), JSON.stringify(before.diagnostics));
      const conversions: string[] = [];
      const plan = await cached.plan({ file, context: { projectRoot: project } }, undefined, (p) => conversions.push(p.component));
      assert.deepEqual(conversions, ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder', 'done']);
      const fromFile = (await cached.render(plan.jobs[0].job)).image;
      assert.ok(compare(await render('export'), fromFile).max <= 2, 'the converted checkpoint renders what the export renders');
      assert.match(plan.jobs[0].job.metadata.model.name, /^checkpoints\/toy\.safetensors$/);
      // Second use: found by a stat, no conversion; the editor's check now resolves the scene.
      const again: string[] = [];
      await cached.plan({ file, context: { projectRoot: project } }, undefined, (p) => again.push(p.component));
      assert.deepEqual(again, []);
      assert.ok(findConvertedCheckpoint(join(ckptDir, 'toy.safetensors'), cacheDir));
      const after = analyzeScene(scene('checkpoints/toy.safetensors'), { file, projectRoot: project, checkpointCacheDir: cacheDir });
      assert.ok(after.resolved, JSON.stringify(after.diagnostics));
      // A copy of the same bytes elsewhere is hashed, not converted again.
      cpSync(join(ckptDir, 'toy.safetensors'), join(ckptDir, 'copy.safetensors'));
      const copies: string[] = [];
      const copyFile = join(project, 'copy.imgprompt');
      writeFileSync(copyFile, scene('checkpoints/copy.safetensors'));
      await cached.plan({ file: copyFile, context: { projectRoot: project } }, undefined, (p) => copies.push(p.component));
      assert.deepEqual(copies, []);
    } finally {
      await cached.dispose();
    }
  });

  test('a first use cancelled while it hashes and converts at once leaves no folder behind; run again, it converts', { skip, timeout: 600_000 }, async () => {
    const cacheDir = join(dir, 'cancel-cache');
    const file = join(dir, 'ckpt', 'sd15-random-toy-fp16.safetensors');
    const env = { ...process.env, HF_HUB_CACHE: join(dir, 'no-hub') };
    const controller = new AbortController();
    const seen: string[] = [];
    const run = ensureConvertedCheckpoint(file, cacheDir, { hashes: await FileHashCache.open(cacheDir), env, signal: controller.signal, onProgress: (p) => seen.push(p.component) });
    controller.abort();
    await assert.rejects(run, (e: unknown) => e instanceof CancelledError);
    assert.deepEqual(readdirSync(join(cacheDir, 'checkpoints')).filter((f) => f !== 'index.json'), [], 'no staging or converted folder is left');
    assert.equal(findConvertedCheckpoint(file, cacheDir), undefined);
    const progress: string[] = [];
    const folder = await ensureConvertedCheckpoint(file, cacheDir, { hashes: await FileHashCache.open(cacheDir), env, onProgress: (p) => progress.push(p.component) });
    assert.deepEqual(progress, ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder', 'done']);
    assert.equal(basename(folder), createHash('sha256').update(readFileSync(file)).digest('hex'));
    assert.equal(findConvertedCheckpoint(file, cacheDir), folder);
  });

  test('a diffusers folder of safetensors (SD 1.x) converts through the same builders, on first render when a scene names it', { skip, timeout: 600_000 }, async () => {
    const cacheDir = join(dir, 'engine-cache-diffusers');
    const cached = await createRenderService({ threads: 2, cacheDir });
    try {
      cpSync(join(dir, 'ckpt', 'diffusers'), join(project, 'models', 'hub-style'), { recursive: true });
      const file = join(project, 'hub.imgprompt');
      const text = `model: ./models/hub-style\nprompt: a red square on a blue background\nseed: 5\nsteps: 6\nguidance: 7\nsampler: euler\nwatermark: off\nsize: {width: 128, height: 128}\n`;
      writeFileSync(file, text);
      const before = analyzeScene(text, { file, projectRoot: project, checkpointCacheDir: cacheDir });
      assert.ok(before.diagnostics.some((d) => d.code === 'checkpoint-unconverted' && /diffusers folder of safetensors/.test(d.message)), JSON.stringify(before.diagnostics));
      const conversions: string[] = [];
      const plan = await cached.plan({ file, context: { projectRoot: project } }, undefined, (p) => conversions.push(p.component));
      assert.deepEqual(conversions, ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder', 'done']);
      const { max, psnr } = compare(await render('export'), (await cached.render(plan.jobs[0].job)).image);
      console.log(`converted diffusers folder vs optimum export: max pixel difference ${max}, PSNR ${psnr.toFixed(1)} dB`);
      assert.ok(max <= 2 && psnr > 60, `max ${max}, PSNR ${psnr}`);
      const again: string[] = [];
      await cached.plan({ file, context: { projectRoot: project } }, undefined, (p) => again.push(p.component));
      assert.deepEqual(again, [], 'found in the cache by a stat');
    } finally {
      await cached.dispose();
    }
  });
});
