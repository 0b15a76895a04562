// The VAE graphs built in TypeScript (checkpoint/convert/vaeGraph.ts) against the same weights exported by
// torch: the seeded toy SD 1.5-architecture model (tools/sd15_random) as an optimum ONNX folder
// (make_model.sh: vae_decoder / vae_encoder are the AutoencoderKL exported by torch.onnx) and as the
// files users have (make_checkpoints.py: a diffusers safetensors folder, with current and pre-0.15
// attention names, and single-file LDM checkpoints in fp32 and fp16). Both graphs run in onnxruntime on
// the same inputs (batch 2 non-square, and batch 1 at a size whose encoder halvings go odd, which checks
// the downsamplers' right/bottom padding) and must agree with the export, as relative error (max |Δ| over
// max |reference|):
// - from the diffusers folder (current and pre-0.15 names) and the fp32 LDM file: the same weights and the
//   same operators as torch writes them (GroupNorm as Reshape / InstanceNormalization / Reshape / Mul / Add,
//   SiLU as x·Sigmoid(x)), so equal up to float32 summation order: within 1e-5 (measured: 0, bit-equal);
// - from the fp16 LDM file: every weight rounded to fp16 (relative 2^-11), compounded over some thirty
//   layers: within 1e-2 (measured up to 1.3e-3 decoder, 1.7e-3 encoder).
// The built decoder's attention must also be recognised by the session loader's attention fusion
// (MultiHeadAttention, a different summation: within 1e-5, measured 1.2e-6). Without Debian's torch the
// test is skipped with the reason.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ExternalDataWriter } from '../../../src/engine/onnx/graphBuilder';
import { fuseAttentionInModel } from '../../../src/engine/onnx/attentionFusion';
import { readSafetensors } from '../../../src/engine/lora/safetensors';
import { safetensorsWeights, type WeightSource } from '../../../src/engine/checkpoint/convert/weightSource';
import { buildVaeDecoderGraph, buildVaeEncoderGraph, type VaeConfig } from '../../../src/engine/checkpoint/convert/vaeGraph';
import { diffusersVaeName, ldmVaeWeights } from '../../../src/engine/checkpoint/convert/ldmVaeNames';
import { ensureSd15Checkpoints, makeSd15Checkpoints, sd15ReferenceUnavailable } from '../../scale/sd15Random';
import { relativeError, runGraph } from './graphCompare';

const skip = sd15ReferenceUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'imgprompt-vae-graph-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let onnxDir = '';
let ckptDir = '';
let config: VaeConfig;

before(() => {
  if (skip) return;
  ({ onnx: onnxDir, checkpoints: ckptDir } = ensureSd15Checkpoints('toy'));
  makeSd15Checkpoints(onnxDir, join(dir, 'ckpt-legacy'), ['--legacy-vae-names', '--no-schedule-buffers']);
  config = JSON.parse(readFileSync(join(ckptDir, 'diffusers', 'vae', 'config.json'), 'utf8')) as VaeConfig;
});

/** The diffusers VAE weights of the cached checkpoints (`ckpt`) or of a variant made here (`ckpt-legacy`). */
async function diffusersWeights(folder: 'ckpt' | 'ckpt-legacy'): Promise<WeightSource> {
  const root = folder === 'ckpt' ? ckptDir : join(dir, folder);
  return safetensorsWeights(await readSafetensors(join(root, 'diffusers', 'vae', 'diffusion_pytorch_model.safetensors')));
}

async function ldmWeights(file: string): Promise<WeightSource> {
  // A full checkpoint also holds int64 tensors (CLIP's position_ids): read the header accepting every dtype.
  return ldmVaeWeights(safetensorsWeights(await readSafetensors(join(ckptDir, file), { anyDtype: true })));
}

type Build = typeof buildVaeDecoderGraph;

/** Builds a graph into its own folder (model.onnx + model.onnx_data); returns the model's path and bytes. */
async function build(name: string, builder: Build, weights: WeightSource): Promise<{ path: string; bytes: Uint8Array }> {
  const out = mkdtempSync(join(dir, `${name}-`));
  const external = new ExternalDataWriter(join(out, 'model.onnx_data'), 'model.onnx_data');
  let bytes: Uint8Array;
  try {
    bytes = await builder(config, weights, external);
  } finally {
    external.close();
  }
  writeFileSync(join(out, 'model.onnx'), bytes);
  return { path: join(out, 'model.onnx'), bytes };
}

/** Deterministic inputs in [-1, 1]. */
function inputOf(dims: number[], phase: number): ort.Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  return new ort.Tensor('float32', Float32Array.from({ length: n }, (_v, i) => Math.sin(i * 0.37 + phase) * Math.cos(i * 0.011)), dims);
}

const run = runGraph;

const LATENTS = [[2, 4, 8, 12], [1, 4, 5, 7]];
const IMAGES = [[2, 3, 64, 96], [1, 3, 40, 52]];
const FP16_TOLERANCE = 1e-2;

test('LDM VAE keys map to diffusers names as diffusers converts them (up blocks reversed)', () => {
  assert.equal(diffusersVaeName('decoder.up.3.block.0.nin_shortcut.weight', 4), 'decoder.up_blocks.0.resnets.0.conv_shortcut.weight');
  assert.equal(diffusersVaeName('decoder.up.0.upsample.conv.bias', 4), 'decoder.up_blocks.3.upsamplers.0.conv.bias');
  assert.equal(diffusersVaeName('encoder.down.1.downsample.conv.weight', 4), 'encoder.down_blocks.1.downsamplers.0.conv.weight');
  assert.equal(diffusersVaeName('encoder.mid.block_2.norm1.weight', 4), 'encoder.mid_block.resnets.1.norm1.weight');
  assert.equal(diffusersVaeName('decoder.mid.attn_1.proj_out.weight', 4), 'decoder.mid_block.attentions.0.to_out.0.weight');
  assert.equal(diffusersVaeName('decoder.mid.attn_1.norm.bias', 4), 'decoder.mid_block.attentions.0.group_norm.bias');
  assert.equal(diffusersVaeName('encoder.norm_out.weight', 4), 'encoder.conv_norm_out.weight');
  assert.equal(diffusersVaeName('post_quant_conv.weight', 4), 'post_quant_conv.weight');
  assert.equal(diffusersVaeName('decoder.up.4.block.0.conv1.weight', 4), undefined);
  assert.equal(diffusersVaeName('model_ema.decay', 4), undefined);
});

test('the LDM view offers exactly the diffusers file\'s names and shapes (attention 1×1 convs as linears)', { skip }, async () => {
  const diffusers = await diffusersWeights('ckpt');
  for (const file of ['sd15-random-toy.safetensors', 'sd15-random-toy-fp16.safetensors']) {
    const ldm = await ldmWeights(file);
    assert.deepEqual(ldm.names().sort(), diffusers.names().sort(), file);
    for (const name of diffusers.names()) assert.deepEqual(ldm.shape(name), diffusers.shape(name), `${file}: ${name}`);
  }
  const fp32 = await ldmWeights('sd15-random-toy.safetensors');
  const name = 'decoder.up_blocks.0.resnets.1.conv2.weight';
  assert.deepEqual(await fp32.get(name), await diffusers.get(name));
});

test('VAE decoder built from diffusers and LDM weights equals the torch export', { skip, timeout: 600_000 }, async () => {
  const cases: [string, () => Promise<WeightSource>, number][] = [
    ['diffusers', () => diffusersWeights('ckpt'), 1e-5],
    ['diffusers, pre-0.15 attention names', () => diffusersWeights('ckpt-legacy'), 1e-5],
    ['LDM fp32', () => ldmWeights('sd15-random-toy.safetensors'), 1e-5],
    ['LDM fp16', () => ldmWeights('sd15-random-toy-fp16.safetensors'), FP16_TOLERANCE],
  ];
  for (const [label, weights, tolerance] of cases) {
    const built = await build('decoder', buildVaeDecoderGraph, await weights());
    const fused = fuseAttentionInModel(built.bytes);
    assert.equal(fused.fused, 1, `the mid-block attention was not fused: ${JSON.stringify(fused.skipped)}`);
    const fusedPath = built.path.replace(/model\.onnx$/, 'fused.onnx');
    writeFileSync(fusedPath, fused.bytes!);
    for (const [i, dims] of LATENTS.entries()) {
      const feeds = { latent_sample: inputOf(dims, 0.3 + i) };
      const reference = await run(join(onnxDir, 'vae_decoder', 'model.onnx'), feeds, 'sample');
      assert.deepEqual(reference.dims, [dims[0], 3, dims[2] * 8, dims[3] * 8]);
      const error = relativeError(await run(built.path, feeds, 'sample'), reference);
      const fusedError = relativeError(await run(fusedPath, feeds, 'sample'), reference);
      console.log(`vae_decoder from ${label}, latents [${dims}]: relative error ${error.toExponential(2)}, attention fused ${fusedError.toExponential(2)} (tolerance ${tolerance})`);
      assert.ok(error <= tolerance, `${label} [${dims}]: relative error ${error} over ${tolerance}`);
      assert.ok(fusedError <= tolerance, `${label} [${dims}], fused: relative error ${fusedError} over ${tolerance}`);
    }
  }
});

test('VAE encoder built from diffusers and LDM weights equals the torch export (mean and log-variance)', { skip, timeout: 600_000 }, async () => {
  const cases: [string, () => Promise<WeightSource>, number][] = [
    ['diffusers', () => diffusersWeights('ckpt'), 1e-5],
    ['diffusers, pre-0.15 attention names', () => diffusersWeights('ckpt-legacy'), 1e-5],
    ['LDM fp32', () => ldmWeights('sd15-random-toy.safetensors'), 1e-5],
    ['LDM fp16', () => ldmWeights('sd15-random-toy-fp16.safetensors'), FP16_TOLERANCE],
  ];
  for (const [label, weights, tolerance] of cases) {
    const built = await build('encoder', buildVaeEncoderGraph, await weights());
    const fused = fuseAttentionInModel(built.bytes);
    assert.equal(fused.fused, 1, `the mid-block attention was not fused: ${JSON.stringify(fused.skipped)}`);
    for (const [i, dims] of IMAGES.entries()) {
      const feeds = { sample: inputOf(dims, 1.1 + i) };
      const reference = await run(join(onnxDir, 'vae_encoder', 'model.onnx'), feeds, 'latent_parameters');
      const error = relativeError(await run(built.path, feeds, 'latent_parameters'), reference);
      console.log(`vae_encoder from ${label}, image [${dims}] → [${reference.dims}]: relative error ${error.toExponential(2)} (tolerance ${tolerance})`);
      assert.ok(error <= tolerance, `${label} [${dims}]: relative error ${error} over ${tolerance}`);
    }
  }
});

test('a weight of the wrong shape is refused, naming it', { skip }, async () => {
  const good = await diffusersWeights('ckpt');
  const wrong: WeightSource = { ...good, shape: (n) => (n === 'decoder.conv_in.weight' ? [1, 2, 3, 3] : good.shape(n)) };
  await assert.rejects(build('bad', buildVaeDecoderGraph, wrong), /decoder\.conv_in\.weight.*has shape \[1, 2, 3, 3\]/);
});
