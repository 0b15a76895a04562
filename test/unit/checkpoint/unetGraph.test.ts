// The UNet graph built in TypeScript (checkpoint/convert/unetGraph.ts) against torch:
// - the seeded toy SD 1.5-architecture model (tools/sd15_random): its optimum ONNX folder's unet
//   (make_model.sh: diffusers' UNet2DConditionModel structure exported by torch.onnx) is the reference;
//   the same weights as a diffusers safetensors folder and as single-file LDM checkpoints in fp32 and fp16
//   (make_checkpoints.py) are what the builder reads. Both graphs run in onnxruntime on the same inputs
//   (batch 2, 16×24 latents, per-item and shared timesteps 999 / 500 / 1 / 0).
// - an SD 2.x-style variant (tools/reference/make_unet_variant.py, torch forward on its own weights):
//   linear proj_in/out, 16-wide heads (per-block head counts), two transformer blocks per attention,
//   one resnet per level, non-trivial norm weights, flip_sin_to_cos false / freq_shift 1, fractional
//   float timesteps, an LCM timestep_cond, ControlNet residuals, and 9×13 latents (odd sizes: each
//   upsampler meets its skip's size).
// Agreement is relative error, max |Δ| over max |reference|:
// - diffusers weights and the fp32 LDM file: the same weights and operators as torch's export, up to
//   summation order (attention, GELU and frequency constants written by us): within 1e-5 (measured
//   1.2e-6, 0 at timestep 0);
// - the fp16 LDM file: every weight rounded to fp16 (relative 2^-11) through some 100 layers: within
//   1e-2 (measured 1.8e-3);
// - the variant against torch's eager forward: within 1e-5 (measured 1.9e-6).
// Every attention of the built graphs must also be fused by the session loader (onnx/attentionFusion.ts)
// and the fused graph stay within the same tolerance. Without Debian's torch the torch-backed tests are
// skipped with the reason.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ModelError } from '../../../src/engine/errors';
import { parseOnnxModel } from '../../../src/engine/onnx/onnxProto';
import { ExternalDataWriter } from '../../../src/engine/onnx/graphBuilder';
import { fuseAttentionInModel } from '../../../src/engine/onnx/attentionFusion';
import { readSafetensors } from '../../../src/engine/lora/safetensors';
import { residualNames } from '../../../src/engine/model/unet';
import { renamedWeights, safetensorsWeights, type WeightSource } from '../../../src/engine/checkpoint/convert/weightSource';
import { buildUNetGraph, timestepFrequencies, type UNetBuildOptions, type UNetConfig } from '../../../src/engine/checkpoint/convert/unetGraph';
import { diffusersUnetName, ldmLayersPerBlock, ldmUnetWeights } from '../../../src/engine/checkpoint/convert/ldmUnetNames';
import { ensureSd15Checkpoints, runPythonTool, sd15ReferenceUnavailable } from '../../scale/sd15Random';
import { relativeError, runGraph } from './graphCompare';

const skip = sd15ReferenceUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'imgprompt-unet-graph-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let onnxDir = '';
let ckptDir = '';
let config: UNetConfig;

before(() => {
  if (skip) return;
  ({ onnx: onnxDir, checkpoints: ckptDir } = ensureSd15Checkpoints('toy'));
  runPythonTool('tools.reference.make_unet_variant', ['--out', join(dir, 'variant')]);
  config = JSON.parse(readFileSync(join(ckptDir, 'diffusers', 'unet', 'config.json'), 'utf8')) as UNetConfig;
});

async function diffusersWeights(): Promise<WeightSource> {
  return safetensorsWeights(await readSafetensors(join(ckptDir, 'diffusers', 'unet', 'diffusion_pytorch_model.safetensors')));
}

async function ldmWeights(file: string): Promise<WeightSource> {
  // A full checkpoint also holds int64 tensors (CLIP's position_ids): read the header accepting every dtype.
  return ldmUnetWeights(safetensorsWeights(await readSafetensors(join(ckptDir, file), { anyDtype: true })));
}

/** Builds into its own folder (model.onnx + model.onnx_data); returns the model's path and bytes. */
async function build(name: string, cfg: UNetConfig, weights: WeightSource, options: UNetBuildOptions = {}): Promise<{ path: string; bytes: Uint8Array }> {
  const out = mkdtempSync(join(dir, `${name}-`));
  const external = new ExternalDataWriter(join(out, 'model.onnx_data'), 'model.onnx_data');
  let bytes: Uint8Array;
  try {
    bytes = await buildUNetGraph(cfg, weights, external, options);
  } finally {
    external.close();
  }
  writeFileSync(join(out, 'model.onnx'), bytes);
  return { path: join(out, 'model.onnx'), bytes };
}

/** The built graph with its attention fused as the session loader does; asserts every Softmax was fused. */
function fused(built: { path: string; bytes: Uint8Array }, expected: number): string {
  const result = fuseAttentionInModel(built.bytes);
  assert.equal(result.fused, expected, `attention fusion: ${result.fused} fused, skipped ${JSON.stringify(result.skipped)}`);
  assert.deepEqual(result.skipped, []);
  const path = built.path.replace(/model\.onnx$/, 'fused.onnx');
  writeFileSync(path, result.bytes!);
  return path;
}

/** Deterministic inputs in [-1, 1]. */
function inputOf(dims: number[], phase: number): ort.Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  return new ort.Tensor('float32', Float32Array.from({ length: n }, (_v, i) => Math.sin(i * 0.37 + phase) * Math.cos(i * 0.011)), dims);
}

function open(path: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(path, { intraOpNumThreads: 4, graphOptimizationLevel: 'all', logSeverityLevel: 3 });
}

function run(path: string, feeds: Record<string, ort.Tensor>): Promise<ort.Tensor> {
  return runGraph(path, feeds, 'out_sample');
}

const TIMESTEPS: readonly bigint[][] = [[999n, 999n], [500n, 1n], [0n]];
const ATTENTIONS = 32; // toy SD 1.5: 3 cross-attention levels × 2 resnets down, 1 mid, 3 levels × 3 up, each attn1 + attn2
const TOLERANCE = 1e-5;
const FP16_TOLERANCE = 1e-2;

function toyFeeds(timestep: readonly bigint[]): Record<string, ort.Tensor> {
  return {
    sample: inputOf([2, 4, 16, 24], 0.3),
    timestep: new ort.Tensor('int64', BigInt64Array.from(timestep), [timestep.length]),
    encoder_hidden_states: inputOf([2, 77, 64], 1.7),
  };
}

test('LDM UNet keys map to diffusers names as diffusers converts them', () => {
  const cases: [string, string | undefined][] = [
    ['time_embed.0.weight', 'time_embedding.linear_1.weight'],
    ['time_embed.2.bias', 'time_embedding.linear_2.bias'],
    ['input_blocks.0.0.weight', 'conv_in.weight'],
    ['input_blocks.1.0.in_layers.0.weight', 'down_blocks.0.resnets.0.norm1.weight'],
    ['input_blocks.2.0.emb_layers.1.bias', 'down_blocks.0.resnets.1.time_emb_proj.bias'],
    ['input_blocks.2.1.transformer_blocks.0.attn1.to_q.weight', 'down_blocks.0.attentions.1.transformer_blocks.0.attn1.to_q.weight'],
    ['input_blocks.3.0.op.weight', 'down_blocks.0.downsamplers.0.conv.weight'],
    ['input_blocks.4.0.skip_connection.weight', 'down_blocks.1.resnets.0.conv_shortcut.weight'],
    ['input_blocks.11.0.out_layers.3.weight', 'down_blocks.3.resnets.1.conv2.weight'],
    ['middle_block.0.in_layers.2.weight', 'mid_block.resnets.0.conv1.weight'],
    ['middle_block.1.proj_in.weight', 'mid_block.attentions.0.proj_in.weight'],
    ['middle_block.2.out_layers.0.bias', 'mid_block.resnets.1.norm2.bias'],
    ['output_blocks.0.0.skip_connection.bias', 'up_blocks.0.resnets.0.conv_shortcut.bias'],
    ['output_blocks.2.1.conv.weight', 'up_blocks.0.upsamplers.0.conv.weight'],
    ['output_blocks.5.1.norm.weight', 'up_blocks.1.attentions.2.norm.weight'],
    ['output_blocks.5.2.conv.bias', 'up_blocks.1.upsamplers.0.conv.bias'],
    ['output_blocks.11.1.transformer_blocks.0.ff.net.0.proj.weight', 'up_blocks.3.attentions.2.transformer_blocks.0.ff.net.0.proj.weight'],
    ['out.0.weight', 'conv_norm_out.weight'],
    ['out.2.bias', 'conv_out.bias'],
    // SDXL's add_embedding (label_emb.0.{0,2}), as diffusers' single-file conversion names it.
    ['label_emb.0.0.weight', 'add_embedding.linear_1.weight'],
    ['label_emb.0.2.bias', 'add_embedding.linear_2.bias'],
    ['label_emb.0.1.weight', undefined],
    ['input_blocks.1.0.in_layers.1.weight', undefined],
  ];
  for (const [ldm, diffusers] of cases) assert.equal(diffusersUnetName(ldm, 2), diffusers, ldm);
  assert.equal(diffusersUnetName('input_blocks.2.0.op.weight', 1), 'down_blocks.0.downsamplers.0.conv.weight');
  assert.equal(diffusersUnetName('output_blocks.3.0.in_layers.0.bias', 1), 'up_blocks.1.resnets.1.norm1.bias');
  assert.equal(ldmLayersPerBlock(['input_blocks.3.0.op.weight', 'input_blocks.6.0.op.weight']), 2);
});

test('the timestep frequencies are diffusers\' get_timestep_embedding constants', () => {
  const f = timestepFrequencies(320, 0);
  assert.equal(f.length, 160);
  assert.equal(f[0], 1);
  assert.ok(Math.abs(f[80] - Math.exp((-Math.log(10000) * 80) / 160)) < 1e-7);
  assert.ok(Math.abs(timestepFrequencies(32, 1)[15] - Math.exp((-Math.log(10000) * 15) / 15)) < 1e-9);
});

test('the LDM view offers exactly the diffusers file\'s UNet names and shapes', { skip }, async () => {
  const diffusers = await diffusersWeights();
  for (const file of ['sd15-random-toy.safetensors', 'sd15-random-toy-fp16.safetensors']) {
    const ldm = await ldmWeights(file);
    assert.deepEqual(ldm.names().sort(), diffusers.names().sort(), file);
    for (const name of diffusers.names()) assert.deepEqual(ldm.shape(name), diffusers.shape(name), `${file}: ${name}`);
  }
  const name = 'up_blocks.2.attentions.1.transformer_blocks.0.attn2.to_k.weight';
  assert.deepEqual(await (await ldmWeights('sd15-random-toy.safetensors')).get(name), await diffusers.get(name));
});

test('UNet built from diffusers and LDM weights equals the torch export', { skip, timeout: 600_000 }, async () => {
  const cases: [string, () => Promise<WeightSource>, number][] = [
    ['diffusers', diffusersWeights, TOLERANCE],
    ['LDM fp32', () => ldmWeights('sd15-random-toy.safetensors'), TOLERANCE],
    ['LDM fp16', () => ldmWeights('sd15-random-toy-fp16.safetensors'), FP16_TOLERANCE],
  ];
  const reference = await open(join(onnxDir, 'unet', 'model.onnx'));
  const expected = await Promise.all(TIMESTEPS.map(async (t) => (await reference.run(toyFeeds(t))).out_sample));
  await reference.release();
  for (const [label, weights, tolerance] of cases) {
    const built = await build('unet', config, await weights());
    const sessions = await Promise.all([open(built.path), open(fused(built, ATTENTIONS))]);
    for (const [i, timestep] of TIMESTEPS.entries()) {
      const [error, fusedError] = await Promise.all(sessions.map(async (s) => relativeError((await s.run(toyFeeds(timestep))).out_sample, expected[i])));
      console.log(`unet from ${label}, timestep [${timestep}]: relative error ${error.toExponential(2)}, attention fused ${fusedError.toExponential(2)} (tolerance ${tolerance})`);
      assert.ok(error <= tolerance, `${label} [${timestep}]: relative error ${error} over ${tolerance}`);
      assert.ok(fusedError <= tolerance, `${label} [${timestep}], fused: relative error ${fusedError} over ${tolerance}`);
    }
    await Promise.all(sessions.map((s) => s.release()));
  }
});

test('fp16 linear weights kept [out, in] behind Cast + Transpose (file ranges) compute bit for bit what transposed copies compute, fused or not', { skip, timeout: 600_000 }, async () => {
  const ranged = await ldmWeights('sd15-random-toy-fp16.safetensors');
  // The same source without file ranges: linear weights are read and stored transposed, [in, out], as before.
  const { storedRange: _dropped, ...rest } = ranged;
  const copied: WeightSource = rest;
  const a = await build('ranged', config, ranged);
  const b = await build('copied', config, copied);
  const parsed = parseOnnxModel(a.bytes);
  const toQ = parsed.initializers.find((i) => i.name === 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight');
  const toK = parsed.initializers.find((i) => i.name === 'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight');
  assert.equal(toQ?.dataType, 10);
  assert.deepEqual(toK?.dims, [...ranged.shape('down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight')], 'kept in torch\'s [out, in] layout');
  assert.ok(parsed.nodes.filter((n) => n.opType === 'Transpose').length > 0);
  assert.ok(parseOnnxModel(b.bytes).initializers.find((i) => i.name === toK.name)?.dims[0] === toK.dims[1], 'the copied path stores [in, out]');
  for (const [x, y] of [[a.path, b.path], [fused(a, ATTENTIONS), fused(b, ATTENTIONS)]]) {
    const sessions = await Promise.all([open(x), open(y)]);
    for (const timestep of TIMESTEPS) {
      const [p, q] = await Promise.all(sessions.map(async (s) => (await s.run(toyFeeds(timestep))).out_sample.data as Float32Array));
      assert.deepEqual(p, q, `${x}: timestep [${timestep}]`);
    }
    await Promise.all(sessions.map((s) => s.release()));
  }
});

test('a float32 timestep input and ControlNet residual inputs: same output for the same integer timesteps and zero residuals', { skip, timeout: 300_000 }, async () => {
  const weights = await diffusersWeights();
  const plain = await build('plain', config, weights);
  const variant = await build('float-residuals', config, weights, { timestep: 'float32', controlNetResiduals: true });
  const session = await ort.InferenceSession.create(variant.path, { logSeverityLevel: 3 });
  const info = session.inputNames.map((name) => ({ name, type: 'float32', shape: [] as string[] }));
  const named = residualNames(info, variant.path, 'UNet');
  assert.equal(named?.down.length, 12);
  assert.equal(named?.mid.name, 'mid_block_additional_residual');
  await session.release();

  const feeds = toyFeeds([500n, 1n]);
  const expected = await run(plain.path, feeds);
  // As model/unet.ts feeds a graph with residual inputs when no ControlNet runs: zeros [1, C, 1, 1].
  const channels = [32, 32, 32, 32, 64, 64, 64, 64, 64, 64, 64, 64];
  const zeros: Record<string, ort.Tensor> = { mid_block_additional_residual: new ort.Tensor('float32', new Float32Array(64), [1, 64, 1, 1]) };
  channels.forEach((c, i) => (zeros[`down_block_additional_residual_${i}`] = new ort.Tensor('float32', new Float32Array(c), [1, c, 1, 1])));
  const floatFeeds = { ...feeds, ...zeros, timestep: new ort.Tensor('float32', Float32Array.of(500, 1), [2]) };
  assert.deepEqual((await run(variant.path, floatFeeds)).data, expected.data);
  const nudged = { ...floatFeeds, down_block_additional_residual_3: new ort.Tensor('float32', new Float32Array(32).fill(0.5), [1, 32, 1, 1]) };
  assert.ok(relativeError(await run(variant.path, nudged), expected) > 1e-3, 'a residual input changes the output');
});

test('SD 2.x-style variant (linear projections, per-block heads, 2 transformer blocks, timestep_cond, residuals, odd size) equals torch', { skip, timeout: 300_000 }, async () => {
  const variantDir = join(dir, 'variant');
  const cfg = JSON.parse(readFileSync(join(variantDir, 'config.json'), 'utf8')) as UNetConfig;
  const reference = JSON.parse(readFileSync(join(variantDir, 'reference.json'), 'utf8')) as {
    inputs: Record<string, { dims: number[]; data: string }>;
    out_sample: { dims: number[]; data: string };
  };
  const tensor = (t: { dims: number[]; data: string }) => {
    const bytes = Buffer.from(t.data, 'base64');
    return new ort.Tensor('float32', new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)), t.dims);
  };
  const weights = safetensorsWeights(await readSafetensors(join(variantDir, 'unet.safetensors')));
  const built = await build('variant', cfg, weights, { timestep: 'float32', controlNetResiduals: true });
  // 3 cross-attention levels × 1 resnet + mid + 3 levels × 2 up, each with 2 blocks of attn1 + attn2.
  const fusedPath = fused(built, (3 + 1 + 6) * 2 * 2);
  const feeds = Object.fromEntries(Object.entries(reference.inputs).map(([k, v]) => [k, tensor(v)]));
  const expected = tensor(reference.out_sample);
  const error = relativeError(await run(built.path, feeds), expected);
  const fusedError = relativeError(await run(fusedPath, feeds), expected);
  console.log(`SD 2.x-style variant: relative error ${error.toExponential(2)}, attention fused ${fusedError.toExponential(2)} (tolerance ${TOLERANCE})`);
  assert.ok(error <= TOLERANCE && fusedError <= TOLERANCE, `relative error ${error}, fused ${fusedError}, over ${TOLERANCE}`);
});

test('weights and configs that do not fit are refused, naming what is wrong', { skip, timeout: 120_000 }, async () => {
  const weights = await diffusersWeights();
  const without = (drop: string) => renamedWeights(weights, (n) => (n === drop ? undefined : n), weights.names());
  await assert.rejects(build('missing', config, without('mid_block.attentions.0.transformer_blocks.0.attn2.to_v.weight')), /attn2\.to_v\.weight' is missing/);
  await assert.rejects(build('layers', { ...config, layers_per_block: 1 }, weights), /has shape \[128\], expected \[96\]/);
  const noAttention = { ...config, down_block_types: ['DownBlock2D', ...config.down_block_types.slice(1)] };
  await assert.rejects(build('unused', noAttention, weights), /weights of .* are not used by its configuration \(down_blocks\.0\.attentions\.0\./);
  await assert.rejects(build('heads', { ...config, block_out_channels: [32, 64, 64, 128] }, weights), /has shape/);
  await assert.rejects(build('class', { ...config, class_embed_type: 'timestep' }, weights), (e: unknown) => e instanceof ModelError && /class_embed_type/.test(e.message));
  await assert.rejects(build('blocks', { ...config, down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'SimpleCrossAttnDownBlock2D'] }, weights), /SimpleCrossAttnDownBlock2D/);
  // A weight the config does not use (SDXL's label_emb under an SD 1.x config) is reported, not silently dropped.
  const file = safetensorsWeights(await readSafetensors(join(ckptDir, 'sd15-random-toy.safetensors'), { anyDtype: true }));
  const extra = 'model.diffusion_model.label_emb.0.0.weight';
  const withExtra: WeightSource = { ...file, has: (n) => n === extra || file.has(n), shape: (n) => (n === extra ? [4, 4] : file.shape(n)), names: () => [...file.names(), extra] };
  await assert.rejects(build('extra', config, ldmUnetWeights(withExtra)), /add_embedding\.linear_1\.weight/);
});
