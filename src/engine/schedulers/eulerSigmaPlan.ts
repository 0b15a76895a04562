// The sigma schedule and element-wise pieces shared by euler and euler_a (diffusers'
// EulerDiscreteScheduler.set_timesteps and EulerAncestralDiscreteScheduler.set_timesteps): timesteps
// by spacing, sigmas interpolated from the training sigmas (or Karras sigmas mapped back to
// fractional timesteps), a final sigma, and init_noise_sigma.

import { InputError } from '../errors';
import type { SigmaSchedule } from './Scheduler';
import type { FinalSigmasType, InterpolationType, PredictionType, SchedulerConfig, TimestepSpacing } from './SchedulerConfig';
import {
  interpOnIndexGrid,
  karrasSigmas,
  sigmaToTimestep,
  torchLinspaceFloat32,
  trainingSchedule,
  trainingSigmas,
  type TrainingScheduleSpec,
} from './noiseSchedule';
import { eulerTimesteps } from './timestepSpacing';
import { checkInferenceSteps, checkSameLength } from './stepChecks';

const fr = Math.fround;

export interface EulerPlan {
  timesteps: number[];
  sigmas: number[];
  initNoiseSigma: number;
  predictionType: PredictionType;
}

type EulerConfig = TrainingScheduleSpec &
  SchedulerConfig & { predictionType: PredictionType; timestepSpacing: TimestepSpacing; stepsOffset: number };

export function eulerSigmaPlan(
  sampler: string,
  c: EulerConfig,
  steps: number,
  schedule: SigmaSchedule,
  options: { interpolationType: InterpolationType; finalSigmasType: FinalSigmasType },
): EulerPlan {
  checkInferenceSteps(sampler, steps, c.numTrainTimesteps);
  const { alphasCumprod } = trainingSchedule(c);
  const trainSigmas = trainingSigmas(alphasCumprod);
  if (c.rescaleBetasZeroSnr) {
    // diffusers keeps the last alpha bar at 2^-24 (not 0) so the first sigma stays finite.
    trainSigmas[trainSigmas.length - 1] = fr(Math.sqrt(fr(fr(1 - 2 ** -24) / 2 ** -24)));
  }
  let timesteps = eulerTimesteps(c.timestepSpacing, c.numTrainTimesteps, steps, c.stepsOffset);
  let sigmas: number[];
  if (options.interpolationType === 'linear') {
    sigmas = timesteps.map((t) => interpOnIndexGrid(t, trainSigmas));
  } else {
    const high = Math.log(trainSigmas[trainSigmas.length - 1]);
    const low = Math.log(trainSigmas[0]);
    sigmas = torchLinspaceFloat32(high, low, steps + 1).map((v) => fr(Math.exp(v))).slice(0, steps);
  }
  if (schedule === 'karras') {
    const sigmaMin = c.sigmaMin ?? sigmas[sigmas.length - 1];
    const sigmaMax = c.sigmaMax ?? sigmas[0];
    if (!(sigmaMin > 0 && sigmaMax > sigmaMin)) {
      throw new InputError(`${sampler}: Karras sigmas need 0 < sigma_min < sigma_max; got ${sigmaMin} and ${sigmaMax}`);
    }
    sigmas = karrasSigmas(sigmaMin, sigmaMax, steps);
    const logSigmas = trainSigmas.map((s) => fr(Math.log(s)));
    timesteps = sigmas.map((s) => fr(sigmaToTimestep(s, logSigmas)));
  }
  const finalSigma = options.finalSigmasType === 'sigma_min' ? trainSigmas[0] : 0;
  const allSigmas = [...sigmas, finalSigma].map(fr);
  const maxSigma = Math.max(...allSigmas);
  // With leading spacing the first sigma sits below the training maximum, so diffusers widens the
  // initial noise to sqrt(sigma^2 + 1).
  const initNoiseSigma =
    c.timestepSpacing === 'linspace' || c.timestepSpacing === 'trailing' ? maxSigma : fr(Math.sqrt(fr(fr(maxSigma * maxSigma) + 1)));
  return { timesteps, sigmas: allSigmas, initNoiseSigma, predictionType: c.predictionType };
}

/** sample / sqrt(sigma^2 + 1), the input scaling of the Euler family. */
export function eulerScaleModelInput(sample: Float32Array, sigma: number): Float32Array {
  const divisor = fr(Math.sqrt(fr(fr(sigma * sigma) + 1)));
  const out = new Float32Array(sample.length);
  for (let i = 0; i < sample.length; i++) out[i] = sample[i] / divisor;
  return out;
}

/** original + noise * sigma. */
export function eulerAddNoise(sampler: string, original: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  checkSameLength(sampler, 'original and noise', original, noise);
  const out = new Float32Array(original.length);
  for (let i = 0; i < original.length; i++) out[i] = original[i] + fr(noise[i] * sigma);
  return out;
}

/** The clean-sample estimate x0 for a sigma-parameterised step. */
export function eulerPredictOriginal(
  predictionType: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  sigma: number,
): Float32Array {
  if (predictionType === 'sample') return Float32Array.from(modelOutput);
  const x0 = new Float32Array(sample.length);
  if (predictionType === 'epsilon') {
    for (let i = 0; i < x0.length; i++) x0[i] = sample[i] - fr(sigma * modelOutput[i]);
  } else {
    const variance = fr(fr(sigma * sigma) + 1);
    const outputScale = fr(-sigma / fr(Math.sqrt(variance)));
    for (let i = 0; i < x0.length; i++) x0[i] = fr(modelOutput[i] * outputScale) + fr(sample[i] / variance);
  }
  return x0;
}
