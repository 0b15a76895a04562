// Ancestral Euler sampling (k-diffusion's sample_euler_ancestral, eta 1), as diffusers'
// EulerAncestralDiscreteScheduler: each step goes down to sigma_down by an Euler step and adds fresh
// noise of size sigma_up, drawn from the render's RNG, so a seed means the same image as in
// diffusers / ComfyUI with a CPU generator (noise is drawn on every step, the last one included).

import { InputError } from '../errors';
import type { RNG } from '../rng';
import type { Scheduler, SchedulerRun, SigmaSchedule, StepOutput } from './Scheduler';
import { TRAINING_DEFAULTS, withDefaults, type SchedulerConfig, type TimestepSpacing } from './SchedulerConfig';
import { eulerAddNoise, eulerPredictOriginal, eulerScaleModelInput, eulerSigmaPlan, type EulerPlan } from './eulerSigmaPlan';
import { checkSameLength, checkStepIndex } from './stepChecks';

const fr = Math.fround;

const DEFAULTS = { ...TRAINING_DEFAULTS, timestepSpacing: 'linspace' as TimestepSpacing, stepsOffset: 0 };

export class EulerAncestralScheduler implements Scheduler {
  readonly name = 'euler_a';
  readonly stochastic = true;
  readonly timesteps: readonly number[];
  readonly sigmas: readonly number[];
  readonly initNoiseSigma: number;
  private readonly plan: EulerPlan;

  constructor(
    config: SchedulerConfig,
    readonly numInferenceSteps: number,
    readonly schedule: SigmaSchedule,
  ) {
    const c = withDefaults(config, DEFAULTS);
    // diffusers' ancestral Euler has neither interpolation_type nor final_sigmas_type: always linear, 0.
    this.plan = eulerSigmaPlan(this.name, c, numInferenceSteps, schedule, { interpolationType: 'linear', finalSigmasType: 'zero' });
    ({ timesteps: this.timesteps, sigmas: this.sigmas, initNoiseSigma: this.initNoiseSigma } = this.plan);
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(this.name, stepIndex, this.numInferenceSteps);
    return eulerScaleModelInput(sample, this.sigmas[stepIndex]);
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(this.name, stepIndex, this.numInferenceSteps);
    return eulerAddNoise(this.name, original, noise, this.sigmas[stepIndex]);
  }

  begin(rng?: RNG): SchedulerRun {
    if (!rng) throw new InputError('euler_a draws noise on every step: begin() needs the RNG of the render');
    return { step: (modelOutput, stepIndex, sample) => this.step(modelOutput, stepIndex, sample, rng) };
  }

  private step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, rng: RNG): StepOutput {
    checkStepIndex(this.name, stepIndex, this.numInferenceSteps);
    checkSameLength(this.name, 'model output and sample', modelOutput, sample);
    const sigma = this.sigmas[stepIndex];
    const sigmaNext = this.sigmas[stepIndex + 1];
    // 1. Estimate the clean sample.
    const x0 = eulerPredictOriginal(this.plan.predictionType, modelOutput, sample, sigma);
    // 2. Split the move to sigmaNext into a deterministic part (down) and fresh noise (up).
    const sigmaSq = fr(sigma * sigma);
    const nextSq = fr(sigmaNext * sigmaNext);
    const sigmaUp = fr(Math.sqrt(fr(fr(nextSq * fr(sigmaSq - nextSq)) / sigmaSq)));
    const sigmaDown = fr(Math.sqrt(fr(nextSq - fr(sigmaUp * sigmaUp))));
    const dt = fr(sigmaDown - sigma);
    // 3. Euler step to sigmaDown, then add sigmaUp * noise.
    const noise = rng.randn([sample.length]);
    const prev = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const derivative = fr(fr(sample[i] - x0[i]) / sigma);
      const down = fr(sample[i] + fr(derivative * dt));
      prev[i] = down + fr(noise[i] * sigmaUp);
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }
}
