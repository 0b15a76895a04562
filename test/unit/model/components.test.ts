// Each fixture component, run through readOnnxModelFiles -> OnnxSession -> its typed wrapper, must
// reproduce the outputs PyTorch computed for the same inputs (reference.json, tolerance stated there:
// 1e-5 absolute for float32 graphs, 2e-3 for the float16 one, about one float16 ulp at the outputs' scale).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelledError } from '../../../src/engine/errors';
import { CLIPTextEncoder } from '../../../src/engine/model/clipTextEncoder';
import { readOnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { OnnxSession } from '../../../src/engine/onnx/onnxSession';
import { ControlNet } from '../../../src/engine/control/controlNet';
import { UNet } from '../../../src/engine/model/unet';
import { VAEDecoder } from '../../../src/engine/model/vaeDecoder';
import { VAEEncoder } from '../../../src/engine/model/vaeEncoder';
import type { FloatTensor } from '../../../src/engine/onnx/tensor';
import { allFixtures, asFloatTensor, maxAbsDiff, type ReferenceFixture } from './onnxFixtures';

async function open(f: ReferenceFixture): Promise<OnnxSession> {
  return OnnxSession.create(await readOnnxModelFiles(f.modelPath), { intraOpNumThreads: 1 });
}

async function runComponent(f: ReferenceFixture, session: OnnxSession): Promise<Record<string, FloatTensor>> {
  switch (f.component) {
    case 'text_encoder': {
      const ids = f.inputs.input_ids;
      const rows = Array.from({ length: ids.dims[0] }, (_, b) => ids.data.slice(b * ids.dims[1], (b + 1) * ids.dims[1]));
      const out = await new CLIPTextEncoder(session).encode(rows);
      assert.ok(out.pooledOutput, 'pooler_output is exported');
      return { last_hidden_state: out.lastHiddenState, pooler_output: out.pooledOutput };
    }
    case 'unet': {
      const t = f.inputs.timestep;
      const unet = new UNet(session);
      const input = {
        sample: asFloatTensor(f.inputs.sample),
        timestep: t.dims.length === 0 ? t.data[0] : t.data,
        encoderHiddenStates: asFloatTensor(f.inputs.encoder_hidden_states),
      };
      if (!unet.residualInputs) return { out_sample: await unet.predict(input) };
      const residuals = {
        down: unet.residualInputs.down.map((i) => asFloatTensor(f.inputs[i.name])),
        mid: asFloatTensor(f.inputs[unet.residualInputs.mid.name]),
      };
      // Without residuals the UNet is fed broadcast zeros: the same as a ControlNet contributing nothing.
      return { out_sample: await unet.predict({ ...input, residuals }), out_sample_zero: await unet.predict(input) };
    }
    case 'controlnet': {
      const net = new ControlNet(session);
      const out = await net.predict({
        sample: asFloatTensor(f.inputs.sample),
        timestep: f.inputs.timestep.data[0],
        encoderHiddenStates: asFloatTensor(f.inputs.encoder_hidden_states),
        hint: asFloatTensor(f.inputs.controlnet_cond),
        scale: f.inputs.conditioning_scale.data[0],
      });
      return { down_block_res_sample_0: out.down[0], mid_block_res_sample: out.mid };
    }
    case 'vae_decoder':
      return { sample: await new VAEDecoder(session).decode(asFloatTensor(f.inputs.latent_sample)) };
    case 'vae_encoder': {
      const encoder = new VAEEncoder(session);
      // Compare the raw graph output; the mean/sample reduction is tested separately.
      const name = encoder.outputsParameters ? 'latent_parameters' : 'latent_sample';
      return session.run({ sample: asFloatTensor(f.inputs.sample) }, [name]);
    }
  }
}

describe('fixture components match their PyTorch references', () => {
  for (const f of allFixtures()) {
    test(`${f.name}: ${f.description}`, async () => {
      const session = await open(f);
      try {
        // The session reports the dtypes the exporter chose, which the wrappers adapt to.
        for (const [name, ref] of Object.entries(f.inputs)) {
          assert.equal(session.input(name)?.type, ref.dtype, `input ${name} dtype`);
        }
        const outputs = await runComponent(f, session);
        for (const [name, ref] of Object.entries(f.outputs)) {
          const diff = maxAbsDiff(outputs[name], ref);
          assert.ok(diff <= f.tolerance, `${name}: max |ort - torch| = ${diff} > ${f.tolerance}`);
        }
        const runs = Object.keys(f.outputs).includes('out_sample_zero') ? 2 : 1;
        assert.equal(session.runCount, runs);
        assert.ok(session.runTimeMs > 0);
      } finally {
        await session.dispose();
      }
    });
  }
});

test('timestep signatures are read from the graph, never assumed', async () => {
  const expected: Record<string, string> = {
    unet_timestep_float32_batch: 'float32 [batch]',
    unet_timestep_int64_batch: 'int64 [batch]',
    unet_timestep_float32_scalar: 'float32 []',
    unet_float16: 'float16 [batch]',
  };
  for (const f of allFixtures().filter((x) => x.name in expected)) {
    const session = await open(f);
    assert.equal(new UNet(session).timestepSignature, expected[f.name]);
    await session.dispose();
  }
});

test('a scalar-timestep UNet refuses different timesteps per batch item', async () => {
  const f = allFixtures().find((x) => x.name === 'unet_timestep_float32_scalar')!;
  const session = await open(f);
  const unet = new UNet(session);
  await assert.rejects(
    unet.predict({ sample: asFloatTensor(f.inputs.sample), timestep: [1, 2], encoderHiddenStates: asFloatTensor(f.inputs.encoder_hidden_states) }),
    /one timestep for the whole batch.*float32 \[\].*1, 2/,
  );
  await session.dispose();
});

test('text encoder reports its fixed sequence length and id dtype', async () => {
  for (const [name, type] of [['text_encoder_int32', 'int32'], ['text_encoder_int64', 'int64']] as const) {
    const f = allFixtures().find((x) => x.name === name)!;
    const session = await open(f);
    const encoder = new CLIPTextEncoder(session);
    assert.equal(encoder.sequenceLength, 8);
    assert.equal(encoder.inputIdsType, type);
    await assert.rejects(encoder.encode([[1, 2, 3]]), /input 'input_ids' must have shape \[batch, 8\] but was given \[1, 3\]/);
    await session.dispose();
  }
});

test('VAE encoder with latent_parameters returns the mean, or mean + std * eps with injected noise', async () => {
  const f = allFixtures().find((x) => x.name === 'vae_encoder_latent_parameters')!;
  const session = await open(f);
  const encoder = new VAEEncoder(session);
  assert.equal(encoder.outputsParameters, true);
  const params = f.outputs.latent_parameters;
  const [b, c2, h, w] = params.dims;
  const plane = (c2 / 2) * h * w;
  const mean = await encoder.encode(asFloatTensor(f.inputs.sample));
  assert.deepEqual(mean.dims, [b, c2 / 2, h, w]);
  for (let i = 0; i < plane; i++) assert.ok(Math.abs(mean.data[i] - params.data[i]) <= f.tolerance);
  const eps = (n: number) => Float32Array.from({ length: n }, (_, i) => (i % 2 ? 1 : -0.5));
  const sampled = await encoder.encode(asFloatTensor(f.inputs.sample), { mode: 'sample', randn: eps });
  const noise = eps(plane);
  for (let i = 0; i < plane; i++) {
    const std = Math.exp(0.5 * Math.min(20, Math.max(-30, params.data[plane + i])));
    const expected = params.data[i] + std * noise[i];
    assert.ok(Math.abs(sampled.data[i] - expected) <= 1e-4 * Math.max(1, Math.abs(expected)), `element ${i}`);
  }
  await assert.rejects(encoder.encode(asFloatTensor(f.inputs.sample), { mode: 'sample' }), /needs a randn noise source/);
  await session.dispose();
});

test('external weights give the same result read by onnxruntime from disk or passed from memory', async () => {
  const f = allFixtures().find((x) => x.name === 'unet_external_data')!;
  const input = {
    sample: asFloatTensor(f.inputs.sample),
    timestep: f.inputs.timestep.data,
    encoderHiddenStates: asFloatTensor(f.inputs.encoder_hidden_states),
  };
  const fromDisk = await readOnnxModelFiles(f.modelPath);
  const inMemory = await readOnnxModelFiles(f.modelPath, { readExternalData: true });
  assert.equal(fromDisk.externalData[0].data, undefined);
  assert.equal(inMemory.externalData[0].data?.length, inMemory.externalData[0].size);
  const outputs: FloatTensor[] = [];
  for (const files of [fromDisk, inMemory]) {
    const session = await OnnxSession.create(files, { intraOpNumThreads: 1 });
    outputs.push(await new UNet(session).predict(input));
    await session.dispose();
  }
  assert.deepEqual(outputs[0].data, outputs[1].data);
  assert.ok(maxAbsDiff(outputs[0], f.outputs.out_sample) <= f.tolerance);
});

test('an AbortSignal cancels before a run, and a run it interrupts ends in CancelledError', async () => {
  const f = allFixtures().find((x) => x.name === 'vae_decoder')!;
  const session = await open(f);
  const decoder = new VAEDecoder(session);
  const latents = asFloatTensor(f.inputs.latent_sample);
  const before = new AbortController();
  before.abort();
  await assert.rejects(decoder.decode(latents, before.signal), CancelledError);
  assert.equal(session.runCount, 0, 'nothing ran');
  const during = new AbortController();
  const pending = decoder.decode(latents, during.signal);
  during.abort();
  await assert.rejects(pending, CancelledError);
  await session.dispose();
  await assert.rejects(decoder.decode(latents), /used after being released/);
});
