// Euler sampling (Karras et al. 2022, Algorithm 2 without churn), as diffusers'
// EulerDiscreteScheduler: an ODE step on sigma with the model input scaled by 1/sqrt(sigma^2 + 1).
// Shares its sigma plan with EulerAncestralScheduler through eulerSigmaPlan.

import type { Scheduler, SchedulerRun, SigmaSchedule, StepOutput } from './Scheduler';
import { TRAINING_DEFAULTS, withDefaults, type FinalSigmasType, type InterpolationType, type SchedulerConfig, type TimestepSpacing } from './SchedulerConfig';
import { eulerSigmaPlan, eulerScaleModelInput, eulerAddNoise, eulerPredictOriginal, type EulerPlan } from './eulerSigmaPlan';
import { checkSameLength, checkStepIndex } from './stepChecks';

const fr = Math.fround;

const DEFAULTS = {
  ...TRAINING_DEFAULTS,
  timestepSpacing: 'linspace' as TimestepSpacing,
  stepsOffset: 0,
  interpolationType: 'linear' as InterpolationType,
  finalSigmasType: 'zero' as FinalSigmasType,
};

export class EulerDiscreteScheduler implements Scheduler {
  readonly name = 'euler';
  readonly stochastic = false;
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
    this.plan = eulerSigmaPlan(this.name, c, numInferenceSteps, schedule, {
      interpolationType: c.interpolationType,
      finalSigmasType: c.finalSigmasType,
    });
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

  begin(): SchedulerRun {
    return { step: (modelOutput, stepIndex, sample) => this.step(modelOutput, stepIndex, sample) };
  }

  private step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): StepOutput {
    checkStepIndex(this.name, stepIndex, this.numInferenceSteps);
    checkSameLength(this.name, 'model output and sample', modelOutput, sample);
    const sigma = this.sigmas[stepIndex];
    // 1. Estimate the clean sample from the model output.
    const x0 = eulerPredictOriginal(this.plan.predictionType, modelOutput, sample, sigma);
    // 2. Follow the ODE derivative d = (x - x0) / sigma down to the next sigma.
    const dt = fr(this.sigmas[stepIndex + 1] - sigma);
    const prev = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const derivative = fr(fr(sample[i] - x0[i]) / sigma);
      prev[i] = sample[i] + fr(derivative * dt);
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }
}
