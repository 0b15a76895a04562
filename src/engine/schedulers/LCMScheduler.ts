// Latent Consistency Model sampling (Luo et al. 2023, "Latent Consistency Models", Algorithm 3), as
// diffusers' LCMScheduler: each step maps the sample to the consistency function's clean estimate
// (boundary-condition scalings c_skip, c_out) and, except on the last step, re-noises it to the next
// timestep with fresh noise from the render's RNG. Timesteps are taken from the teacher schedule of
// original_inference_steps; LCM ignores timestep_spacing and steps_offset, as diffusers does.

import { InputError } from '../errors';
import type { RNG } from '../rng';
import type { Scheduler, SchedulerRun, SigmaSchedule, StepOutput } from './Scheduler';
import { withDefaults, type BetaSchedule, type PredictionType, type SchedulerConfig } from './SchedulerConfig';
import { linspace, trainingSchedule } from './noiseSchedule';
import { addNoiseAtAlphaBar, clampInPlace, predictFromAlphaBar, sigmaOfAlphaBar } from './alphaBarMath';
import { checkInferenceSteps, checkSameLength, checkStepIndex } from './stepChecks';

const fr = Math.fround;
/** sigma_data of the consistency-model boundary condition (Song et al. 2023), fixed in diffusers. */
const SIGMA_DATA = 0.5;

const DEFAULTS = {
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'scaled_linear' as BetaSchedule,
  rescaleBetasZeroSnr: false,
  predictionType: 'epsilon' as PredictionType,
  originalInferenceSteps: 50,
  clipSample: false,
  clipSampleRange: 1,
  setAlphaToOne: true,
  timestepScaling: 10,
};

/** LCM's inference timesteps: evenly spaced picks from the teacher's timesteps k-1, 2k-1, ... */
export function lcmTimesteps(numTrainTimesteps: number, originalSteps: number, steps: number): number[] {
  if (!Number.isInteger(originalSteps) || originalSteps < 1 || originalSteps > numTrainTimesteps) {
    throw new InputError(`lcm: original_inference_steps ${originalSteps} must be an integer from 1 to num_train_timesteps (${numTrainTimesteps})`);
  }
  if (steps > originalSteps) {
    throw new InputError(`lcm: ${steps} steps requested but the model was distilled with original_inference_steps = ${originalSteps}; use at most that many`);
  }
  const k = Math.floor(numTrainTimesteps / originalSteps);
  const teacher = Array.from({ length: originalSteps }, (_, i) => (originalSteps - i) * k - 1);
  return linspace(0, teacher.length, steps, false).map((x) => teacher[Math.floor(x)]);
}

export class LCMScheduler implements Scheduler {
  readonly name = 'lcm';
  readonly schedule: SigmaSchedule = 'normal';
  readonly initNoiseSigma = 1;
  readonly stochastic: boolean;
  readonly timesteps: readonly number[];
  readonly sigmas: readonly number[];
  private readonly alphasCumprod: readonly number[];
  private readonly finalAlphaCumprod: number;
  private readonly predictionType: PredictionType;
  private readonly clipRange: number | undefined;
  private readonly timestepScaling: number;

  constructor(config: SchedulerConfig, readonly numInferenceSteps: number) {
    const c = withDefaults(config, DEFAULTS);
    checkInferenceSteps(this.name, numInferenceSteps, c.numTrainTimesteps);
    this.alphasCumprod = trainingSchedule(c).alphasCumprod;
    this.finalAlphaCumprod = c.setAlphaToOne ? 1 : this.alphasCumprod[0];
    this.predictionType = c.predictionType;
    this.clipRange = c.clipSample ? c.clipSampleRange : undefined;
    this.timestepScaling = c.timestepScaling;
    this.timesteps = lcmTimesteps(c.numTrainTimesteps, c.originalInferenceSteps, numInferenceSteps);
    this.stochastic = numInferenceSteps > 1;
    this.sigmas = [...this.timesteps.map((t) => sigmaOfAlphaBar(this.alphasCumprod[t])), 0];
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
    if (this.stochastic && !rng) throw new InputError('lcm re-noises between steps: begin() needs the RNG of the render');
    return { step: (modelOutput, stepIndex, sample) => this.step(modelOutput, stepIndex, sample, rng) };
  }

  private step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, rng: RNG | undefined): StepOutput {
    checkStepIndex(this.name, stepIndex, this.numInferenceSteps);
    checkSameLength(this.name, 'model output and sample', modelOutput, sample);
    const last = stepIndex === this.numInferenceSteps - 1;
    // 1. Alpha bars of this and the next timestep (the last step re-uses its own).
    const t = this.timesteps[stepIndex];
    const prevT = last ? t : this.timesteps[stepIndex + 1];
    const alphaBar = this.alphasCumprod[t];
    const alphaBarPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    // 2. Boundary-condition scalings for this timestep.
    const scaled = fr(t * this.timestepScaling);
    const scaledSq = fr(scaled * scaled);
    const cSkip = fr(SIGMA_DATA ** 2 / fr(scaledSq + SIGMA_DATA ** 2));
    const cOut = fr(scaled / fr(Math.sqrt(fr(scaledSq + SIGMA_DATA ** 2))));
    // 3. Clean estimate, then the consistency function's output.
    const { x0 } = predictFromAlphaBar(this.predictionType, modelOutput, sample, alphaBar);
    if (this.clipRange !== undefined) clampInPlace(x0, this.clipRange);
    const denoised = new Float32Array(sample.length);
    for (let i = 0; i < denoised.length; i++) denoised[i] = fr(cOut * x0[i]) + fr(cSkip * sample[i]);
    if (last || !rng) return { prevSample: denoised, predOriginalSample: denoised };
    // 4. Re-noise to the next timestep.
    const noise = rng.randn([sample.length]);
    const sqrtAlphaPrev = fr(Math.sqrt(alphaBarPrev));
    const sqrtBetaPrev = fr(Math.sqrt(fr(1 - alphaBarPrev)));
    const prev = new Float32Array(sample.length);
    for (let i = 0; i < prev.length; i++) prev[i] = fr(sqrtAlphaPrev * denoised[i]) + fr(sqrtBetaPrev * noise[i]);
    return { prevSample: prev, predOriginalSample: denoised };
  }
}
