// How diffusers picks the inference timesteps out of the training timesteps for each
// `timestep_spacing` (the rows of Table 2 in Lin et al. 2024, "Common Diffusion Noise Schedules and
// Sample Steps are Flawed"): linspace, leading (+ steps_offset) and trailing.

import type { TimestepSpacing } from './SchedulerConfig';
import { arange, linspace, roundHalfEven } from './noiseSchedule';

/**
 * The timesteps of EulerDiscreteScheduler / EulerAncestralDiscreteScheduler (float32, high to low):
 * linspace keeps fractional values, leading and trailing are integers.
 */
export function eulerTimesteps(spacing: TimestepSpacing, numTrain: number, steps: number, stepsOffset: number): number[] {
  let t: number[];
  if (spacing === 'linspace') {
    t = linspace(0, numTrain - 1, steps).reverse();
  } else if (spacing === 'leading') {
    const ratio = Math.floor(numTrain / steps);
    t = arange(0, steps, 1).map((i) => roundHalfEven(i * ratio) + stepsOffset).reverse();
  } else {
    t = arange(numTrain, 0, -numTrain / steps).map((v) => roundHalfEven(v) - 1);
  }
  return t.map(Math.fround);
}

/** The integer timesteps of DDIMScheduler (high to low). */
export function ddimTimesteps(spacing: TimestepSpacing, numTrain: number, steps: number, stepsOffset: number): number[] {
  if (spacing === 'linspace') return linspace(0, numTrain - 1, steps).map(roundHalfEven).reverse();
  if (spacing === 'leading') {
    const ratio = Math.floor(numTrain / steps);
    return arange(0, steps, 1).map((i) => i * ratio + stepsOffset).reverse();
  }
  return arange(numTrain, 0, -numTrain / steps).map((v) => roundHalfEven(v) - 1);
}

/**
 * The integer timesteps of DPMSolverMultistepScheduler (high to low), which spaces n + 1 points and
 * drops the last, below `lastTimestep` (num_train_timesteps minus the lambda_min_clipped cut).
 */
export function dpmSolverTimesteps(
  spacing: TimestepSpacing,
  numTrain: number,
  lastTimestep: number,
  steps: number,
  stepsOffset: number,
): number[] {
  if (spacing === 'linspace') return linspace(0, lastTimestep - 1, steps + 1).map(roundHalfEven).reverse().slice(0, steps);
  if (spacing === 'leading') {
    const ratio = Math.floor(lastTimestep / (steps + 1));
    return arange(0, steps + 1, 1).map((i) => i * ratio + stepsOffset).reverse().slice(0, steps);
  }
  return arange(lastTimestep, 0, -numTrain / steps).map((v) => roundHalfEven(v) - 1);
}
