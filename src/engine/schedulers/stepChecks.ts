// Up-front checks shared by every scheduler: each message names the bad value and what was expected.

import { InputError } from '../errors';

export function checkStepIndex(sampler: string, stepIndex: number, steps: number): void {
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= steps) {
    throw new InputError(`${sampler}: step index ${stepIndex} is outside 0..${steps - 1}`);
  }
}

export function checkSameLength(sampler: string, what: string, a: Float32Array, b: Float32Array): void {
  if (a.length !== b.length) {
    throw new InputError(`${sampler}: ${what} have ${a.length} and ${b.length} elements; they must match`);
  }
}

export function checkInferenceSteps(sampler: string, steps: number, numTrainTimesteps: number): void {
  if (!Number.isInteger(steps) || steps < 1 || steps > numTrainTimesteps) {
    throw new InputError(`${sampler}: ${steps} steps requested; expected an integer from 1 to ${numTrainTimesteps} (num_train_timesteps)`);
  }
}
