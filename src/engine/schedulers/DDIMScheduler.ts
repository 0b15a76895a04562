// DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12), as diffusers' DDIMScheduler.
// Like diffusers, the previous timestep is t - num_train_timesteps // steps whatever the spacing, so
// linspace spacing reproduces diffusers' output rather than stepping exactly between its timesteps.

import { InputError } from '../errors';
import type { RNG } from '../rng';
import type { Scheduler, SchedulerOptions, SchedulerRun, SigmaSchedule, StepOutput } from './Scheduler';
import { TRAINING_DEFAULTS, withDefaults, type PredictionType, type SchedulerConfig, type TimestepSpacing } from './SchedulerConfig';
import { trainingSchedule } from './noiseSchedule';
import { ddimTimesteps } from './timestepSpacing';
import { addNoiseAtAlphaBar, clampInPlace, predictFromAlphaBar, sigmaOfAlphaBar } from './alphaBarMath';
import { checkInferenceSteps, checkSameLength, checkStepIndex } from './stepChecks';

const fr = Math.fround;

const DEFAULTS = {
  ...TRAINING_DEFAULTS,
  timestepSpacing: 'leading' as TimestepSpacing,
  stepsOffset: 0,
  setAlphaToOne: true,
  clipSample: true,
  clipSampleRange: 1,
};

export class DDIMScheduler implements Scheduler {
  readonly name = 'ddim';
  readonly schedule: SigmaSchedule = 'normal';
  readonly initNoiseSigma = 1;
  readonly stochastic: boolean;
  readonly timesteps: readonly number[];
  readonly sigmas: readonly number[];
  private readonly alphasCumprod: readonly number[];
  private readonly finalAlphaCumprod: number;
  private readonly stride: number;
  private readonly predictionType: PredictionType;
  private readonly clipRange: number | undefined;
  private readonly eta: number;

  constructor(config: SchedulerConfig, readonly numInferenceSteps: number, options: SchedulerOptions = {}) {
    const c = withDefaults(config, DEFAULTS);
    checkInferenceSteps(this.name, numInferenceSteps, c.numTrainTimesteps);
    this.eta = options.eta ?? 0;
    if (!(this.eta >= 0 && this.eta <= 1)) throw new InputError(`ddim: eta ${options.eta} is outside 0..1`);
    this.stochastic = this.eta > 0;
    this.alphasCumprod = trainingSchedule(c).alphasCumprod;
    this.finalAlphaCumprod = c.setAlphaToOne ? 1 : this.alphasCumprod[0];
    this.stride = Math.floor(c.numTrainTimesteps / numInferenceSteps);
    this.predictionType = c.predictionType;
    this.clipRange = c.clipSample ? c.clipSampleRange : undefined;
    this.timesteps = ddimTimesteps(c.timestepSpacing, c.numTrainTimesteps, numInferenceSteps, c.stepsOffset);
    for (const t of this.timesteps) {
      if (t < 0 || t >= c.numTrainTimesteps) {
        throw new InputError(`ddim: timestep ${t} (steps_offset ${c.stepsOffset}) is outside 0..${c.numTrainTimesteps - 1}`);
      }
    }
    this.sigmas = [...this.timesteps.map((t) => sigmaOfAlphaBar(this.alphasCumprod[t])), sigmaOfAlphaBar(this.finalAlphaCumprod)];
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(this.name, stepIndex, this.numInferenceSteps);
    return sample;
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(this.name, stepIndex, this.numInferenceSteps);
    return addNoiseAtAlphaBar(this.name, original, noise, this.alphasCumprod[this.timesteps[stepIndex]]);
  }

  begin(rng?: RNG): SchedulerRun {
    if (this.stochastic && !rng) throw new InputError(`ddim with eta ${this.eta} draws noise: begin() needs the RNG of the render`);
    return { step: (modelOutput, stepIndex, sample) => this.step(modelOutput, stepIndex, sample, rng) };
  }

  private step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, rng: RNG | undefined): StepOutput {
    checkStepIndex(this.name, stepIndex, this.numInferenceSteps);
    checkSameLength(this.name, 'model output and sample', modelOutput, sample);
    // 1. Alpha bars of this and the previous timestep.
    const t = this.timesteps[stepIndex];
    const prevT = t - this.stride;
    const alphaBar = this.alphasCumprod[t];
    const alphaBarPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    // 2. Predicted x0 and noise ("predicted x_0" of eq. 12), x0 clipped if the config asks.
    const { x0, epsilon } = predictFromAlphaBar(this.predictionType, modelOutput, sample, alphaBar);
    if (this.clipRange !== undefined) clampInPlace(x0, this.clipRange);
    // 3. sigma_t of eq. 16 scaled by eta, and the "direction pointing to x_t".
    const variance = fr(fr(fr(1 - alphaBarPrev) / fr(1 - alphaBar)) * fr(1 - fr(alphaBar / alphaBarPrev)));
    const stdDev = fr(this.eta * fr(Math.sqrt(variance)));
    const directionScale = fr(Math.sqrt(fr(fr(1 - alphaBarPrev) - fr(stdDev * stdDev))));
    const sqrtAlphaPrev = fr(Math.sqrt(alphaBarPrev));
    const prev = new Float32Array(sample.length);
    for (let i = 0; i < prev.length; i++) prev[i] = fr(sqrtAlphaPrev * x0[i]) + fr(directionScale * epsilon[i]);
    // 4. Fresh noise when eta > 0.
    if (this.stochastic && rng) {
      const noise = rng.randn([sample.length]);
      for (let i = 0; i < prev.length; i++) prev[i] = prev[i] + fr(stdDev * noise[i]);
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }
}
