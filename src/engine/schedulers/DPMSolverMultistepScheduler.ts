// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
// Probabilistic Models", Algorithm 2), as diffusers' DPMSolverMultistepScheduler with
// algorithm_type dpmsolver++ and solver_order 2: a data-prediction multistep solver in
// lambda = log(alpha / sigma) that reuses the previous step's x0 estimate. The first step of a run,
// and the last when lower_order_final applies, are first order (DDIM-like).

import { InputError } from '../errors';
import type { Scheduler, SchedulerRun, SigmaSchedule, StepOutput } from './Scheduler';
import { TRAINING_DEFAULTS, withDefaults, type PredictionType, type SchedulerConfig, type SolverType, type FinalSigmasType, type TimestepSpacing } from './SchedulerConfig';
import { interpOnIndexGrid, karrasSigmas, roundHalfEven, sigmaToTimestep, trainingSchedule, trainingSigmas } from './noiseSchedule';
import { dpmSolverTimesteps } from './timestepSpacing';
import { checkInferenceSteps, checkSameLength, checkStepIndex } from './stepChecks';

const fr = Math.fround;

const DEFAULTS = {
  ...TRAINING_DEFAULTS,
  timestepSpacing: 'linspace' as TimestepSpacing,
  stepsOffset: 0,
  solverType: 'midpoint' as SolverType,
  lowerOrderFinal: true,
  eulerAtFinal: false,
  finalSigmasType: 'zero' as FinalSigmasType,
  lambdaMinClipped: -Infinity,
};

/** alpha_t = 1 / sqrt(sigma^2 + 1) and sigma_t = sigma * alpha_t of a VP process at noise level sigma. */
function alphaSigma(sigma: number): { alpha: number; sigmaT: number; lambda: number } {
  const alpha = fr(1 / fr(Math.sqrt(fr(fr(sigma * sigma) + 1))));
  const sigmaT = fr(sigma * alpha);
  return { alpha, sigmaT, lambda: fr(fr(Math.log(alpha)) - fr(Math.log(sigmaT))) };
}

interface History {
  stepIndex: number;
  x0: Float32Array;
}

export class DPMSolverMultistepScheduler implements Scheduler {
  readonly name = 'dpmpp_2m';
  readonly stochastic = false;
  readonly initNoiseSigma = 1;
  readonly timesteps: readonly number[];
  readonly sigmas: readonly number[];
  readonly numInferenceSteps: number;
  private readonly predictionType: PredictionType;
  private readonly solverType: SolverType;
  private readonly lowerOrderFinal: boolean;

  constructor(
    config: SchedulerConfig,
    numInferenceSteps: number,
    readonly schedule: SigmaSchedule,
  ) {
    const c = withDefaults(config, DEFAULTS);
    checkInferenceSteps(this.name, numInferenceSteps, c.numTrainTimesteps);
    const alphasCumprod = [...trainingSchedule(c).alphasCumprod];
    // Zero terminal SNR: diffusers keeps the last alpha bar at 2^-24 so log-SNR stays finite.
    if (c.rescaleBetasZeroSnr) alphasCumprod[alphasCumprod.length - 1] = 2 ** -24;
    const trainSigmas = trainingSigmas(alphasCumprod);
    // lambda_min_clipped cuts the schedule where log-SNR falls below it (cosine schedules).
    const lambdas = alphasCumprod.map((a) => fr(fr(Math.log(fr(Math.sqrt(a)))) - fr(Math.log(fr(Math.sqrt(fr(1 - a)))))));
    const clippedIndex = lambdas.filter((l) => l < c.lambdaMinClipped).length;
    const lastTimestep = c.numTrainTimesteps - clippedIndex;
    let timesteps = dpmSolverTimesteps(c.timestepSpacing, c.numTrainTimesteps, lastTimestep, numInferenceSteps, c.stepsOffset);
    let sigmas: number[];
    if (schedule === 'karras') {
      sigmas = karrasSigmas(trainSigmas[0], trainSigmas[trainSigmas.length - 1], numInferenceSteps);
      const logSigmas = trainSigmas.map((s) => fr(Math.log(s)));
      const fractional = sigmas.map((s) => sigmaToTimestep(s, logSigmas));
      // diffusers rounds, except for the cosine schedule, where the int64 cast truncates.
      timesteps = fractional.map((t) => (c.betaSchedule === 'squaredcos_cap_v2' ? Math.trunc(t) : roundHalfEven(t)));
    } else {
      sigmas = timesteps.map((t) => interpOnIndexGrid(t, trainSigmas));
    }
    const finalSigma = c.finalSigmasType === 'sigma_min' ? trainSigmas[0] : 0;
    this.sigmas = [...sigmas, finalSigma].map(fr);
    this.timesteps = timesteps;
    this.numInferenceSteps = timesteps.length;
    this.predictionType = c.predictionType;
    this.solverType = c.solverType;
    // A zero final sigma makes the second-order update divide by an infinite step: go first order.
    this.lowerOrderFinal = c.eulerAtFinal || (c.lowerOrderFinal && this.numInferenceSteps < 15) || c.finalSigmasType === 'zero';
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(this.name, stepIndex, this.numInferenceSteps);
    return sample;
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(this.name, stepIndex, this.numInferenceSteps);
    checkSameLength(this.name, 'original and noise', original, noise);
    const { alpha, sigmaT } = alphaSigma(this.sigmas[stepIndex]);
    const out = new Float32Array(original.length);
    for (let i = 0; i < out.length; i++) out[i] = fr(alpha * original[i]) + fr(sigmaT * noise[i]);
    return out;
  }

  begin(): SchedulerRun {
    let previous: History | undefined;
    return {
      step: (modelOutput, stepIndex, sample) => {
        if (previous && stepIndex !== previous.stepIndex + 1) {
          throw new InputError(`dpmpp_2m: step ${stepIndex} follows step ${previous.stepIndex}; a multistep run must take consecutive steps`);
        }
        const output = this.step(modelOutput, stepIndex, sample, previous);
        previous = { stepIndex, x0: output.predOriginalSample };
        return output;
      },
    };
  }

  private step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, previous: History | undefined): StepOutput {
    checkStepIndex(this.name, stepIndex, this.numInferenceSteps);
    checkSameLength(this.name, 'model output and sample', modelOutput, sample);
    const here = alphaSigma(this.sigmas[stepIndex]);
    const next = alphaSigma(this.sigmas[stepIndex + 1]);
    // 1. Convert the model output to a data prediction x0.
    const x0 = this.predictOriginal(modelOutput, sample, here.alpha, here.sigmaT);
    // 2. Exponential-integrator coefficients over h = lambda_next - lambda_here.
    const h = fr(next.lambda - here.lambda);
    const sampleScale = fr(next.sigmaT / here.sigmaT);
    const expm1 = fr(fr(Math.exp(-h)) - 1);
    const d0Scale = fr(next.alpha * expm1);
    const prev = new Float32Array(sample.length);
    const firstOrder = !previous || (stepIndex === this.numInferenceSteps - 1 && this.lowerOrderFinal);
    if (firstOrder) {
      for (let i = 0; i < prev.length; i++) prev[i] = fr(sampleScale * sample[i]) - fr(d0Scale * x0[i]);
      return { prevSample: prev, predOriginalSample: x0 };
    }
    // 3. Second order: D1 is the x0 difference to the previous step, scaled by h / h_previous.
    const before = alphaSigma(this.sigmas[stepIndex - 1]);
    const r0 = fr(fr(here.lambda - before.lambda) / h);
    const invR0 = fr(1 / r0);
    const m1 = previous.x0;
    if (this.solverType === 'midpoint') {
      const d1Scale = fr(0.5 * d0Scale);
      for (let i = 0; i < prev.length; i++) {
        const d1 = fr(invR0 * fr(x0[i] - m1[i]));
        prev[i] = fr(fr(sampleScale * sample[i]) - fr(d0Scale * x0[i])) - fr(d1Scale * d1);
      }
    } else {
      const d1Scale = fr(next.alpha * fr(fr(expm1 / h) + 1));
      for (let i = 0; i < prev.length; i++) {
        const d1 = fr(invR0 * fr(x0[i] - m1[i]));
        prev[i] = fr(fr(sampleScale * sample[i]) - fr(d0Scale * x0[i])) + fr(d1Scale * d1);
      }
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }

  private predictOriginal(modelOutput: Float32Array, sample: Float32Array, alpha: number, sigmaT: number): Float32Array {
    if (this.predictionType === 'sample') return Float32Array.from(modelOutput);
    const x0 = new Float32Array(sample.length);
    if (this.predictionType === 'epsilon') {
      for (let i = 0; i < x0.length; i++) x0[i] = fr(sample[i] - fr(sigmaT * modelOutput[i])) / alpha;
    } else {
      for (let i = 0; i < x0.length; i++) x0[i] = fr(alpha * sample[i]) - fr(sigmaT * modelOutput[i]);
    }
    return x0;
  }
}
