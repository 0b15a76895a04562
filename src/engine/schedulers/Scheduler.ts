// The contract between the denoising loop and a sampler. A Scheduler is an immutable plan for one
// number of steps (timesteps, sigmas, input scaling); the mutable part of sampling (a multistep
// solver's history, the noise stream) lives in a SchedulerRun made for each render, so one Scheduler
// can serve many renders and every step names its index explicitly.
//
// Precision: tensors are Float32Array. Element-wise arithmetic follows diffusers' torch expressions in
// float32, operation by operation; per-step scalars that diffusers keeps in float32 tensors are rounded
// to float32 too, and schedule construction that diffusers does in numpy float64 is done in float64.
// Results therefore agree with diffusers to within a few float32 ulps per step (transcendental
// functions here are correctly rounded; torch's float32 exp/log may differ in the last bit).

import type { RNG } from '../rng';
import type { SamplerName, ScheduleName } from './samplerNames';

// Sampler and schedule names are the scene format's (`sampler:` and `schedule:` keys).
export type { SamplerName };
export type SigmaSchedule = ScheduleName;

export interface StepOutput {
  /** The sample for the next step (or the final latents after the last step). */
  readonly prevSample: Float32Array;
  /** The model's current estimate of the clean sample (x0), for previews. */
  readonly predOriginalSample: Float32Array;
}

/** One denoising run: feeds steps in order, carrying whatever state the sampler needs. */
export interface SchedulerRun {
  /**
   * Advances `sample` (the latents at `timesteps[stepIndex]`, unscaled) given the model's output for
   * the scaled input. Steps must be taken in increasing index order, starting at any index
   * (image-to-image starts part way).
   */
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): StepOutput;
}

export interface Scheduler {
  readonly name: SamplerName;
  readonly schedule: SigmaSchedule;
  readonly numInferenceSteps: number;
  /**
   * The timestep fed to the model at each step. Integers, except for euler / euler_a with Karras
   * sigmas or linspace spacing, where diffusers passes fractional float timesteps.
   */
  readonly timesteps: readonly number[];
  /**
   * Noise levels sigma = sqrt((1 - alphaBar) / alphaBar) at each step plus the final one
   * (length numInferenceSteps + 1), float32 values as diffusers stores them.
   */
  readonly sigmas: readonly number[];
  /** Standard deviation of the initial noise: multiply unit noise by this for text-to-image. */
  readonly initNoiseSigma: number;
  /** True when steps draw fresh noise, so begin() needs an RNG. */
  readonly stochastic: boolean;
  /** The model input for a step; returns `sample` itself when the sampler does not scale it. */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array;
  /** Noises clean latents to the level of `timesteps[stepIndex]` (image-to-image start). */
  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array;
  /** Starts a run; `rng` continues the stream that drew the initial noise (ancestral noise). */
  begin(rng?: RNG): SchedulerRun;
}

/** Options that are not part of a model's scheduler config. */
export interface SchedulerOptions {
  /** DDIM's eta: 0 is deterministic DDIM, 1 is DDPM-like ancestral sampling. */
  eta?: number;
}
