// Zero terminal SNR (rescale_betas_zero_snr) and v-prediction for every sampler and timestep spacing,
// against test/fixtures/reference/schedulers/zero_snr.json (tools/reference/make_zero_snr_fixtures.py:
// diffusers' formulas restated in torch float32 / numpy). The zero-SNR arithmetic is checked on the betas
// torch made (fed as trained_betas), because torch.linspace's vectorised kernel rounds about a quarter of
// the betas one ulp away from the scalar formula we follow (which values depends on the SIMD width), and
// the rescale's ratio of neighbouring alpha bars turns that ulp into a visible beta difference.
// Tolerances:
// - rescale from torch's betas: bit for bit; from the config (our linspace): alphas_cumprod to 2e-7
//   absolute (measured 1.5e-7, 2.5 ulps near 1), the terminal alpha bar exactly 0;
// - integer timesteps exactly; Karras' fractional timesteps to 1e-4; sigmas and init_noise_sigma to
//   1e-6 relative (both sides are float32 values of the same float64 arithmetic);
// - the latents after a full loop (dummy model sample * t / (t + 1), ancestral noise from
//   torch.manual_seed(0)): 1e-5 × (1 + |x|); measured: bit for bit, except Euler with Karras sigmas
//   (4e-7, from numpy's float64 sigma-to-timestep interpolation).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TorchCPUGenerator } from '../../../src/engine/rng';
import { createScheduler, parseSchedulerConfig, type SamplerName, type SchedulerConfig, type SigmaSchedule } from '../../../src/engine/schedulers';
import { trainingSchedule } from '../../../src/engine/schedulers/noiseSchedule';

interface Case {
  name: string;
  sampler: SamplerName;
  schedule: SigmaSchedule;
  config: Record<string, unknown>;
  steps: number;
  timesteps: number[];
  sigmas?: string;
  initNoiseSigma: number;
  final: string;
}
interface Fixture {
  shape: number[];
  noiseSeed: number;
  start: string;
  sd2Betas: string;
  rescaled: { config: Record<string, unknown>; inputBetas: string; betas: string; alphasCumprod: string }[];
  cases: Case[];
}

const FIXTURE = join(__dirname, '../../fixtures/reference/schedulers/zero_snr.json');
const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Fixture;

function floats(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** The case's config with torch's own betas, so both sides start from the same training schedule. */
function configOf(c: Case): SchedulerConfig {
  return { ...parseSchedulerConfig(c.config, c.name), trainedBetas: [...floats(fixture.sd2Betas)] };
}

function runLoop(c: Case): Float32Array {
  const scheduler = createScheduler(c.sampler, c.schedule, configOf(c), c.steps);
  const run = scheduler.begin(new TorchCPUGenerator(BigInt(fixture.noiseSeed)));
  let latents: Float32Array = floats(fixture.start).map((v) => v * scheduler.initNoiseSigma);
  for (let i = 0; i < scheduler.numInferenceSteps; i++) {
    const t = scheduler.timesteps[i];
    const input = scheduler.scaleModelInput(latents, i);
    const tPlusOne = Math.fround(t + 1);
    const output = input.map((s) => Math.fround(s * t) / tPlusOne);
    latents = run.step(output, i, latents).prevSample;
  }
  return latents;
}

describe('zero terminal SNR: rescaled training schedules (Lin et al. 2024, Algorithm 1)', () => {
  for (const r of fixture.rescaled) {
    const name = `${String(r.config.beta_schedule)} ${String(r.config.beta_start)}..${String(r.config.beta_end)}`;
    const betas = floats(r.betas);
    const alphasCumprod = floats(r.alphasCumprod);
    test(`${name}: from torch's betas, bit for bit`, () => {
      const schedule = trainingSchedule({ numTrainTimesteps: 1000, betaStart: 0, betaEnd: 0, betaSchedule: 'linear', trainedBetas: [...floats(r.inputBetas)], rescaleBetasZeroSnr: true });
      assert.deepEqual(schedule.betas, [...betas]);
      assert.deepEqual(schedule.alphasCumprod, [...alphasCumprod]);
      assert.equal(schedule.alphasCumprod[999], 0, 'the terminal alpha bar is exactly 0 (SNR 0)');
      assert.equal(schedule.betas[999], 1);
    });
    test(`${name}: from the config`, () => {
      const c = parseSchedulerConfig({ ...r.config, rescale_betas_zero_snr: true }, 'fixture');
      const schedule = trainingSchedule({ numTrainTimesteps: 1000, betaStart: c.betaStart ?? 0, betaEnd: c.betaEnd ?? 0, betaSchedule: c.betaSchedule ?? 'linear', rescaleBetasZeroSnr: true });
      assert.equal(schedule.alphasCumprod[999], 0);
      let worst = 0;
      for (let i = 0; i < 999; i++) worst = Math.max(worst, Math.abs(schedule.alphasCumprod[i] - alphasCumprod[i]));
      assert.ok(worst <= 2e-7, `worst |alpha bar difference| ${worst}`);
    });
  }
});

describe('zero terminal SNR + v-prediction: schedules and full loops match diffusers for every sampler and spacing', () => {
  for (const c of fixture.cases) {
    test(c.name, () => {
      const scheduler = createScheduler(c.sampler, c.schedule, configOf(c), c.steps);
      assert.equal(scheduler.timesteps.length, c.timesteps.length);
      scheduler.timesteps.forEach((t, i) => assert.ok(Math.abs(t - c.timesteps[i]) <= 1e-4, `timestep ${i}: ${t} vs ${c.timesteps[i]}`));
      if (c.sigmas) {
        const sigmas = floats(c.sigmas);
        assert.equal(scheduler.sigmas.length, sigmas.length);
        // diffusers keeps the first sigma finite (alpha bar 2^-24, sigma ~4096) and ends at exactly 0.
        assert.equal(scheduler.sigmas[scheduler.sigmas.length - 1], 0);
        scheduler.sigmas.forEach((s, i) => assert.ok(Math.abs(s - sigmas[i]) <= 1e-6 * Math.abs(sigmas[i]), `sigma ${i}: ${s} vs ${sigmas[i]}`));
      }
      assert.ok(Math.abs(scheduler.initNoiseSigma - c.initNoiseSigma) <= 1e-6 * c.initNoiseSigma, `init_noise_sigma ${scheduler.initNoiseSigma} vs ${c.initNoiseSigma}`);
      const expected = floats(c.final);
      const actual = runLoop(c);
      let worst = 0;
      for (let i = 0; i < expected.length; i++) {
        assert.ok(Number.isFinite(actual[i]), `element ${i} is ${actual[i]}`);
        worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i])));
      }
      assert.ok(worst <= 1e-5, `worst scaled difference ${worst}`);
      // From the config as written (our linspace betas), the schedule still agrees to 1e-5.
      const fromConfig = createScheduler(c.sampler, c.schedule, parseSchedulerConfig(c.config, c.name), c.steps);
      assert.deepEqual(fromConfig.timesteps.map((t) => Math.round(t * 100)), scheduler.timesteps.map((t) => Math.round(t * 100)));
      // (DDIM and LCM report sigma = Infinity at alpha bar 0; they never divide by it.)
      fromConfig.sigmas.forEach((s, i) => assert.ok(s === scheduler.sigmas[i] || Math.abs(s - scheduler.sigmas[i]) <= 1e-5 * Math.abs(scheduler.sigmas[i]), `config sigma ${i}: ${s} vs ${scheduler.sigmas[i]}`));
    });
  }
});
