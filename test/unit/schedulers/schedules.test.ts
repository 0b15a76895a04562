// Timesteps and sigmas against published values, plus the API's checks and run isolation.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TorchCPUGenerator } from '../../../src/engine/rng';
import {
  createScheduler,
  img2imgStartIndex,
  parseSchedulerConfig,
  type SchedulerConfig,
} from '../../../src/engine/schedulers';
import { InputError, ModelError } from '../../../src/engine/errors';

// The SDXL test pipeline's scheduler config (diffusers tests/pipelines/stable_diffusion_xl/
// test_stable_diffusion_xl.py, get_dummy_components): SD's betas, leading spacing, steps_offset 1.
const SD_LEADING: SchedulerConfig = { betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear', stepsOffset: 1, timestepSpacing: 'leading' };
const SD: SchedulerConfig = { betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear' };

describe('timesteps', () => {
  test('ddim, steps_offset 1, 5 steps: [801, 601, 401, 201, 1] (test_scheduler_ddim.py::test_steps_offset)', () => {
    const config: SchedulerConfig = { numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear', clipSample: true, stepsOffset: 1 };
    assert.deepEqual(createScheduler('ddim', undefined, config, 5).timesteps, [801, 601, 401, 201, 1]);
  });

  test('leading + steps_offset 1, 10 steps (test_stable_diffusion_xl.py::test_stable_diffusion_two_xl_mixture_of_denoiser)', () => {
    const tenLeading = [901, 801, 701, 601, 501, 401, 301, 201, 101, 1];
    assert.deepEqual(createScheduler('ddim', undefined, SD_LEADING, 10).timesteps, tenLeading);
    assert.deepEqual(createScheduler('euler', undefined, SD_LEADING, 10).timesteps, tenLeading);
    assert.deepEqual(createScheduler('euler_a', undefined, SD_LEADING, 10).timesteps, tenLeading);
    // DPM-Solver spaces 11 points and drops the last.
    assert.deepEqual(createScheduler('dpmpp_2m', undefined, SD_LEADING, 10).timesteps, [901, 811, 721, 631, 541, 451, 361, 271, 181, 91]);
  });

  test('trailing and leading, 10 steps (docs/source/en/using-diffusers/schedulers.md, "Timestep spacing")', () => {
    const trailing = [999, 899, 799, 699, 599, 499, 399, 299, 199, 99];
    assert.deepEqual(createScheduler('euler', undefined, { ...SD, timestepSpacing: 'trailing' }, 10).timesteps, trailing);
    assert.deepEqual(createScheduler('ddim', undefined, { ...SD, timestepSpacing: 'trailing' }, 10).timesteps, trailing);
    assert.deepEqual(createScheduler('dpmpp_2m', undefined, { ...SD, timestepSpacing: 'trailing' }, 10).timesteps, trailing);
    assert.deepEqual(createScheduler('ddim', undefined, { ...SD, timestepSpacing: 'leading' }, 10).timesteps, [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
  });

  test('linspace: euler keeps np.linspace(0, 999, n) (fractional), ddim rounds half to even', () => {
    assert.deepEqual(createScheduler('euler', undefined, SD, 10).timesteps, [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    const euler4 = createScheduler('euler', undefined, SD, 4).timesteps;
    assert.deepEqual(euler4, [999, 666, 333, 0]);
    const euler7 = createScheduler('euler', undefined, SD, 7).timesteps;
    assert.equal(euler7[1], Math.fround(832.5));
    // np.round(832.5) == 832, np.round(166.5) == 166: numpy rounds halves to even.
    assert.deepEqual(createScheduler('ddim', undefined, { ...SD, timestepSpacing: 'linspace' }, 7).timesteps, [999, 832, 666, 500, 333, 166, 0]);
  });

  test("lcm: picks from the 50-step teacher schedule 999, 979, ..., 19 (LCMScheduler.set_timesteps)", () => {
    assert.deepEqual(createScheduler('lcm', undefined, SD, 4).timesteps, [999, 759, 499, 259]);
    assert.deepEqual(createScheduler('lcm', undefined, SD, 1).timesteps, [999]);
    assert.throws(() => createScheduler('lcm', undefined, SD, 51), /original_inference_steps = 50/);
  });
});

describe('sigmas', () => {
  test("SD 1.x sigma range 14.6146 .. 0.0292 (k-diffusion's published SD sigma_max / sigma_min)", () => {
    const s = createScheduler('euler', undefined, SD, 10);
    assert.ok(Math.abs(s.sigmas[0] - 14.6146) < 1e-4, `sigma_max ${s.sigmas[0]}`);
    assert.ok(Math.abs(s.sigmas[9] - 0.0292) < 1e-4, `sigma_min ${s.sigmas[9]}`);
    assert.equal(s.sigmas[10], 0);
    assert.equal(s.initNoiseSigma, s.sigmas[0]);
  });

  test('karras: rho = 7 between the same endpoints, with fractional timesteps mapped back through log sigma', () => {
    const s = createScheduler('euler', 'karras', SD, 10);
    assert.ok(Math.abs(s.sigmas[0] - 14.6146) < 1e-4);
    assert.ok(Math.abs(s.sigmas[9] - 0.0292) < 1e-4);
    const inv = (x: number): number => x ** (1 / 7);
    // Karras et al. 2022, eq. 5: sigma_i^(1/rho) is linear in i.
    const step = inv(s.sigmas[1]) - inv(s.sigmas[0]);
    for (let i = 1; i < 9; i++) assert.ok(Math.abs(inv(s.sigmas[i + 1]) - inv(s.sigmas[i]) - step) < 1e-6);
    assert.equal(s.timesteps[0], 999);
    assert.equal(s.timesteps[9], 0);
    assert.ok(!Number.isInteger(s.timesteps[3]));
    // dpmpp_2m rounds its Karras timesteps.
    assert.ok(createScheduler('dpmpp_2m', 'karras', SD, 10).timesteps.every(Number.isInteger));
  });

  test('leading spacing widens init_noise_sigma to sqrt(sigma_max^2 + 1)', () => {
    const s = createScheduler('euler', undefined, SD_LEADING, 10);
    assert.ok(Math.abs(s.initNoiseSigma - Math.sqrt(s.sigmas[0] ** 2 + 1)) < 1e-5);
  });

  test('use_karras_sigmas in the config picks karras when the scene names no schedule', () => {
    assert.equal(createScheduler('dpmpp_2m', undefined, { ...SD, useKarrasSigmas: true }, 10).schedule, 'karras');
    assert.equal(createScheduler('dpmpp_2m', 'normal', { ...SD, useKarrasSigmas: true }, 10).schedule, 'normal');
    assert.equal(createScheduler('ddim', undefined, { ...SD, useKarrasSigmas: true }, 10).schedule, 'normal');
  });
});

describe('image to image', () => {
  test('start index as StableDiffusionImg2ImgPipeline.get_timesteps computes it', () => {
    assert.equal(img2imgStartIndex(10, 1), 0);
    assert.equal(img2imgStartIndex(10, 0.75), 3); // int(7.5) = 7 steps kept
    assert.equal(img2imgStartIndex(10, 0.7), 3); // 10 * 0.7 = 7.000000000000001
    assert.equal(img2imgStartIndex(50, 0.8), 10);
    assert.throws(() => img2imgStartIndex(10, 0.05), /leaves no step/);
    assert.throws(() => img2imgStartIndex(10, 1.5), /strength 1\.5/);
    assert.throws(() => img2imgStartIndex(10, 0), InputError);
  });

  test('addNoise: sigma-based samplers add sigma * noise; ddim / lcm mix by alpha bar', () => {
    const x = Float32Array.of(1, -2);
    const n = Float32Array.of(0.5, 0.25);
    const e = createScheduler('euler', undefined, SD, 10);
    assert.deepEqual(e.addNoise(x, n, 3), Float32Array.of(1 + Math.fround(0.5 * e.sigmas[3]), -2 + Math.fround(0.25 * e.sigmas[3])));
    const d = createScheduler('ddim', undefined, SD_LEADING, 10);
    const out = d.addNoise(x, n, 0);
    // x_t = sqrt(a) x + sqrt(1 - a) n, and sigma = sqrt((1 - a) / a), so x_t / sqrt(a) = x + sigma n.
    const sqrtA = 1 / Math.sqrt(d.sigmas[0] ** 2 + 1);
    assert.ok(Math.abs(out[0] / sqrtA - (1 + d.sigmas[0] * 0.5)) < 1e-4);
    assert.throws(() => e.addNoise(x, Float32Array.of(1), 0), /2 and 1 elements/);
  });
});

describe('configs and errors', () => {
  test("parses a real SD 1.5 scheduler_config.json and ignores keys it doesn't use", () => {
    const json = {
      _class_name: 'PNDMScheduler', _diffusers_version: '0.6.0', beta_end: 0.012, beta_schedule: 'scaled_linear',
      beta_start: 0.00085, clip_sample: false, num_train_timesteps: 1000, set_alpha_to_one: false, skip_prk_steps: true,
      steps_offset: 1, trained_betas: null,
    };
    assert.deepEqual(parseSchedulerConfig(json, 'scheduler_config.json'), {
      betaEnd: 0.012, betaSchedule: 'scaled_linear', betaStart: 0.00085, clipSample: false, numTrainTimesteps: 1000, setAlphaToOne: false, stepsOffset: 1,
    });
    assert.equal(parseSchedulerConfig({ lambda_min_clipped: '-inf' }, 'f').lambdaMinClipped, -Infinity);
  });

  test('bad configs name the file, the key, the value and what is allowed', () => {
    assert.throws(
      () => parseSchedulerConfig({ beta_schedule: 'quadratic' }, 'm/scheduler/scheduler_config.json'),
      (e: unknown) => e instanceof ModelError && /m\/scheduler\/scheduler_config\.json: beta_schedule is "quadratic"; expected one of 'linear', 'scaled_linear', 'squaredcos_cap_v2'/.test(e.message),
    );
    assert.throws(() => parseSchedulerConfig({ steps_offset: 1.5 }, 'f'), /steps_offset is 1.5; expected an integer/);
    assert.throws(() => parseSchedulerConfig({ thresholding: true }, 'f'), /thresholding = true is not supported/);
    assert.throws(() => parseSchedulerConfig([], 'f'), ModelError);
  });

  test('bad sampler, schedule and step counts are rejected up front', () => {
    assert.throws(() => createScheduler('ddim', 'karras', SD, 10), /'ddim' does not support the 'karras' schedule; it supports normal/);
    assert.throws(() => createScheduler('heun' as never, undefined, SD, 10), /unknown sampler 'heun'; expected one of euler, euler_a, ddim, dpmpp_2m, lcm/);
    assert.throws(() => createScheduler('euler', undefined, SD, 0), /0 steps requested/);
    assert.throws(() => createScheduler('euler', undefined, SD, 2.5), /2\.5 steps/);
    assert.throws(() => createScheduler('euler', undefined, SD, 10, { eta: 1 }), /eta applies to ddim only/);
    const s = createScheduler('euler', undefined, SD, 10);
    assert.throws(() => s.scaleModelInput(new Float32Array(4), 10), /step index 10 is outside 0\.\.9/);
    assert.throws(() => createScheduler('euler_a', undefined, SD, 10).begin(), /needs the RNG/);
    assert.throws(() => createScheduler('lcm', undefined, SD, 4).begin(), /needs the RNG/);
  });

  test('dpmpp_2m runs are independent and must take consecutive steps', () => {
    const s = createScheduler('dpmpp_2m', undefined, SD, 6);
    const latents = new TorchCPUGenerator(1).randn([1, 4, 4, 4]);
    const model = (x: Float32Array, t: number): Float32Array => x.map((v) => v * (t / 1000));
    const runAll = (): Float32Array => {
      const run = s.begin();
      let x = latents;
      for (let i = 0; i < s.numInferenceSteps; i++) x = run.step(model(x, s.timesteps[i]), i, x).prevSample;
      return x;
    };
    const first = runAll();
    assert.deepEqual(runAll(), first);
    const run = s.begin();
    run.step(latents, 0, latents);
    assert.throws(() => run.step(latents, 2, latents), /step 2 follows step 0/);
  });

  test('euler_a continues the render stream: same seed, same result; another seed differs', () => {
    const s = createScheduler('euler_a', undefined, SD, 4);
    const render = (seed: number): Float32Array => {
      const rng = new TorchCPUGenerator(seed);
      let x: Float32Array = rng.randn([1, 4, 4, 4]).map((v) => v * s.initNoiseSigma);
      const run = s.begin(rng);
      for (let i = 0; i < 4; i++) x = run.step(s.scaleModelInput(x, i).map((v) => v * 0.1), i, x).prevSample;
      return x;
    };
    assert.deepEqual(render(7), render(7));
    assert.notDeepEqual(render(7), render(8));
  });
});
