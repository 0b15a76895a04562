// Guidance-distilled (LCM) UNets: the guidance-scale embedding against torch (diffusers'
// get_guidance_scale_embedding restated in tools/reference/make_lcm_fixtures.py), the UNet's timestep_cond
// input, and a whole LCM loop through denoise() with a tiny ONNX UNet against the same loop in torch.
// Tolerances:
// - embedding: |Δ| ≤ 1e-6 + |w|·1000·2⁻²³ per value. sin and cos of a float32 argument agree to an ulp,
//   but torch's float32 exp may put a frequency one ulp away from the correctly rounded one, which moves
//   an argument of up to |w|·1000 rad by that ulp (measured: 4.6e-4 at guidance 8 on torch 1.13 AVX2,
//   a few dozen of 256 values; 0 at guidance 1);
// - loop: 1e-5 × (1 + |x|) on the final latents (onnxruntime's conv against torch's; measured 1e-7).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelError } from '../../../src/engine/errors';
import type { ModelConfig } from '../../../src/engine/model/modelConfig';
import { UNet } from '../../../src/engine/model/unet';
import { readOnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { OnnxSession } from '../../../src/engine/onnx/onnxSession';
import { floatTensor } from '../../../src/engine/onnx/tensor';
import { denoise } from '../../../src/engine/pipeline/denoise';
import { declaresGuidanceEmbedding, guidanceScaleEmbedding, unetGuidanceEmbedding } from '../../../src/engine/pipeline/guidanceEmbedding';
import { StageTimings } from '../../../src/engine/render/StageTimings';
import { TorchCPUGenerator } from '../../../src/engine/rng';
import { createScheduler, parseSchedulerConfig } from '../../../src/engine/schedulers';

const FIXTURES = join(__dirname, '../../fixtures/reference/lcm');
const LCM_UNET = join(FIXTURES, 'unet', 'model.onnx');
const PLAIN_UNET = join(__dirname, '../../fixtures/onnx/unet_timestep_float32_batch/model.onnx');

interface EmbeddingCase {
  guidance: number;
  dim: number;
  embedding: string;
  maxArgument: number;
}
interface Loop {
  scheduler: Record<string, unknown>;
  guidance: number;
  steps: number;
  seed: number;
  latent: number[];
  hidden: number[];
  timesteps: number[];
  hiddenStates: string;
  timestepCond: string;
  final: string;
}

function floats(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

async function open(path: string): Promise<UNet> {
  return new UNet(await OnnxSession.create(await readOnnxModelFiles(path), { intraOpNumThreads: 1 }));
}

/** Just enough of a ModelConfig for the embedding's width: unet/config.json's raw fields. */
function modelWith(rawUNet: Record<string, unknown>): ModelConfig {
  return { unet: { raw: rawUNet } } as unknown as ModelConfig;
}

const embeddings = JSON.parse(readFileSync(join(FIXTURES, 'guidance_embedding.json'), 'utf8')) as { cases: EmbeddingCase[] };
const loop = JSON.parse(readFileSync(join(FIXTURES, 'loop.json'), 'utf8')) as Loop;

describe('guidance-scale embedding (timestep_cond)', () => {
  for (const c of embeddings.cases) {
    test(`guidance ${c.guidance}, width ${c.dim}`, () => {
      const expected = floats(c.embedding);
      const actual = guidanceScaleEmbedding(c.guidance, c.dim);
      assert.equal(actual.length, expected.length);
      const tolerance = 1e-6 + c.maxArgument * 2 ** -23;
      let worst = 0;
      for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
      assert.ok(worst <= tolerance, `worst |difference| ${worst} > ${tolerance}`);
      if (c.dim % 2 === 1) assert.equal(actual[c.dim - 1], 0, 'an odd width ends in a zero column');
    });
  }

  test('guidance 1 (w = 0) embeds as sin 0 = 0 and cos 0 = 1', () => {
    const e = guidanceScaleEmbedding(1, 8);
    assert.deepEqual([...e], [0, 0, 0, 0, 1, 1, 1, 1]);
  });

  test('a width under 4 is refused (the frequency step divides by width/2 - 1)', () => {
    assert.throws(() => guidanceScaleEmbedding(8.5, 3), RangeError);
  });
});

describe('UNet timestep_cond input', () => {
  test('an LCM export: the width comes from the graph and must agree with time_cond_proj_dim', async () => {
    const unet = await open(LCM_UNET);
    assert.equal(unet.timestepCondWidth(), 8);
    assert.equal(unet.timestepCondWidth(8), 8);
    assert.throws(() => unet.timestepCondWidth(256), (e: unknown) => e instanceof ModelError && /8 wide but unet\/config.json says time_cond_proj_dim 256/.test(e.message));
    assert.deepEqual(unet.extraInputNames, []);
    const embedding = unetGuidanceEmbedding(unet, modelWith({ time_cond_proj_dim: 8 }), 8.5);
    assert.deepEqual(embedding?.dims, [1, 8]);
    assert.deepEqual([...(embedding?.data ?? [])], [...guidanceScaleEmbedding(8.5, 8)]);
  });

  test('an LCM export needs the embedding: predicting without one is a ModelError', async () => {
    const unet = await open(LCM_UNET);
    const input = { sample: floatTensor(new Float32Array(4 * 8 * 8), [1, 4, 8, 8]), timestep: 999, encoderHiddenStates: floatTensor(floats(loop.hiddenStates), loop.hidden) };
    await assert.rejects(unet.predict(input), (e: unknown) => e instanceof ModelError && /guidance-distilled \(input 'timestep_cond'\)/.test(e.message));
    const out = await unet.predict({ ...input, timestepCond: floatTensor(guidanceScaleEmbedding(8.5, 8), [1, 8]) });
    assert.deepEqual(out.dims, [1, 4, 8, 8]);
  });

  test('a UNet without timestep_cond keeps working as before and is never given an embedding', async () => {
    const unet = await open(PLAIN_UNET);
    assert.equal(unet.timestepCondWidth(), undefined);
    assert.equal(unet.timestepCondWidth(256), undefined, 'a config that declares a width does not invent the input');
    assert.equal(unetGuidanceEmbedding(unet, modelWith({ time_cond_proj_dim: 256 }), 8.5), undefined);
    assert.equal(declaresGuidanceEmbedding(modelWith({})), false);
    assert.equal(declaresGuidanceEmbedding(modelWith({ time_cond_proj_dim: null })), false);
    assert.equal(declaresGuidanceEmbedding(modelWith({ time_cond_proj_dim: 256 })), true);
  });
});

describe('an LCM loop through denoise() matches torch', () => {
  test(`${loop.steps} steps at guidance ${loop.guidance}, batch 1 (the graph's batch is fixed at 1)`, async () => {
    const unet = await open(LCM_UNET);
    const scheduler = createScheduler('lcm', undefined, parseSchedulerConfig(loop.scheduler, 'loop.json'), loop.steps);
    assert.deepEqual(scheduler.timesteps, loop.timesteps);
    const timestepCond = unetGuidanceEmbedding(unet, modelWith({ time_cond_proj_dim: 8 }), loop.guidance);
    assert.ok(timestepCond);
    const rng = new TorchCPUGenerator(BigInt(loop.seed));
    const latents = floatTensor(rng.randn(loop.latent), loop.latent);
    const final = await denoise({
      unet,
      scheduler,
      rng,
      latents,
      cond: floatTensor(floats(loop.hiddenStates), loop.hidden),
      guidance: loop.guidance,
      timestepCond,
      startIndex: 0,
      timings: new StageTimings(),
    });
    const expected = floats(loop.final);
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(final.data[i] - expected[i]) / (1 + Math.abs(expected[i])));
    assert.ok(worst <= 1e-5, `worst scaled difference ${worst}`);
  });
});
