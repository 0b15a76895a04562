// The training noise schedule and sampling conventions of a model, read from a diffusers
// `scheduler/scheduler_config.json`. Keys absent from the file stay undefined here: diffusers fills
// them from the defaults of whichever scheduler class loads the config (`from_config`), and so do we,
// per sampler, in each scheduler module.

import { ModelError } from '../errors';
import { refuseFlowMatching } from './flowMatching';

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';
export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';
export type FinalSigmasType = 'zero' | 'sigma_min';
export type InterpolationType = 'linear' | 'log_linear';
export type SolverType = 'midpoint' | 'heun';

export interface SchedulerConfig {
  numTrainTimesteps?: number;
  betaStart?: number;
  betaEnd?: number;
  betaSchedule?: BetaSchedule;
  /** Explicit betas; when present they replace betaStart/betaEnd/betaSchedule. */
  trainedBetas?: readonly number[];
  predictionType?: PredictionType;
  timestepSpacing?: TimestepSpacing;
  stepsOffset?: number;
  setAlphaToOne?: boolean;
  clipSample?: boolean;
  clipSampleRange?: number;
  rescaleBetasZeroSnr?: boolean;
  useKarrasSigmas?: boolean;
  sigmaMin?: number;
  sigmaMax?: number;
  finalSigmasType?: FinalSigmasType;
  interpolationType?: InterpolationType;
  /** DPM-Solver: use first order on the last step(s) when there are fewer than 15 steps. */
  lowerOrderFinal?: boolean;
  eulerAtFinal?: boolean;
  solverType?: SolverType;
  lambdaMinClipped?: number;
  /** LCM: the number of steps of the teacher schedule the model was distilled on. */
  originalInferenceSteps?: number;
  /** LCM: factor applied to the timestep in the consistency boundary condition. */
  timestepScaling?: number;
}

type Kind = 'number' | 'integer' | 'boolean';
interface KeySpec {
  field: keyof SchedulerConfig;
  kind: Kind | readonly string[] | 'numberArray';
}

// Keys that change the schedule. Others (`_class_name`, `skip_prk_steps`, ...) are ignored, as they
// are by the scheduler classes we implement.
const KEYS: Record<string, KeySpec> = {
  num_train_timesteps: { field: 'numTrainTimesteps', kind: 'integer' },
  beta_start: { field: 'betaStart', kind: 'number' },
  beta_end: { field: 'betaEnd', kind: 'number' },
  beta_schedule: { field: 'betaSchedule', kind: ['linear', 'scaled_linear', 'squaredcos_cap_v2'] },
  trained_betas: { field: 'trainedBetas', kind: 'numberArray' },
  prediction_type: { field: 'predictionType', kind: ['epsilon', 'v_prediction', 'sample'] },
  timestep_spacing: { field: 'timestepSpacing', kind: ['linspace', 'leading', 'trailing'] },
  steps_offset: { field: 'stepsOffset', kind: 'integer' },
  set_alpha_to_one: { field: 'setAlphaToOne', kind: 'boolean' },
  clip_sample: { field: 'clipSample', kind: 'boolean' },
  clip_sample_range: { field: 'clipSampleRange', kind: 'number' },
  rescale_betas_zero_snr: { field: 'rescaleBetasZeroSnr', kind: 'boolean' },
  use_karras_sigmas: { field: 'useKarrasSigmas', kind: 'boolean' },
  sigma_min: { field: 'sigmaMin', kind: 'number' },
  sigma_max: { field: 'sigmaMax', kind: 'number' },
  final_sigmas_type: { field: 'finalSigmasType', kind: ['zero', 'sigma_min'] },
  interpolation_type: { field: 'interpolationType', kind: ['linear', 'log_linear'] },
  lower_order_final: { field: 'lowerOrderFinal', kind: 'boolean' },
  euler_at_final: { field: 'eulerAtFinal', kind: 'boolean' },
  solver_type: { field: 'solverType', kind: ['midpoint', 'heun'] },
  lambda_min_clipped: { field: 'lambdaMinClipped', kind: 'number' },
  original_inference_steps: { field: 'originalInferenceSteps', kind: 'integer' },
  timestep_scaling: { field: 'timestepScaling', kind: 'number' },
};

/**
 * Settings we cannot honour; a config that turns them on is refused rather than silently ignored.
 * (Flow-matching configs are refused before these, with their own message: see flowMatching.ts.)
 */
const UNSUPPORTED_WHEN: Record<string, (value: unknown) => boolean> = {
  thresholding: (v) => v === true,
  timestep_type: (v) => v !== undefined && v !== null && v !== 'discrete',
  use_exponential_sigmas: (v) => v === true,
  use_beta_sigmas: (v) => v === true,
  use_lu_lambdas: (v) => v === true,
};

function describeKind(kind: KeySpec['kind']): string {
  if (Array.isArray(kind)) return `one of ${kind.map((k) => `'${k}'`).join(', ')}`;
  if (kind === 'numberArray') return 'an array of numbers or null';
  return kind === 'integer' ? 'an integer' : `a ${kind as string}`;
}

function accepts(kind: KeySpec['kind'], value: unknown): boolean {
  if (Array.isArray(kind)) return typeof value === 'string' && kind.includes(value);
  switch (kind) {
    case 'number':
      return typeof value === 'number' && !Number.isNaN(value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    default:
      return Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v));
  }
}

/**
 * Reads a parsed `scheduler_config.json`. `source` names the file in error messages. Null values mean
 * "use the default", as in diffusers. Throws ModelError naming the key, the value and what is allowed.
 */
export function parseSchedulerConfig(json: unknown, source: string): SchedulerConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelError('expected a JSON object of scheduler settings', source);
  }
  const entries = json as Record<string, unknown>;
  refuseFlowMatching(entries, source);
  const config: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(entries)) {
    const unsupported = UNSUPPORTED_WHEN[key];
    if (unsupported?.(value)) {
      throw new ModelError(`${key} = ${JSON.stringify(value)} is not supported by imgprompt's schedulers`, source);
    }
    const spec = KEYS[key];
    if (!spec || value === null) continue;
    // JSON has no infinity; diffusers writes lambda_min_clipped = -inf as the string "-inf".
    const normalised = key === 'lambda_min_clipped' && value === '-inf' ? -Infinity : value;
    if (!accepts(spec.kind, normalised)) {
      throw new ModelError(`${key} is ${JSON.stringify(value)}; expected ${describeKind(spec.kind)}`, source);
    }
    config[spec.field] = normalised;
  }
  const c = config as SchedulerConfig;
  if (c.numTrainTimesteps !== undefined && c.numTrainTimesteps < 2) {
    throw new ModelError(`num_train_timesteps is ${c.numTrainTimesteps}; expected at least 2`, source);
  }
  if (c.trainedBetas !== undefined && c.numTrainTimesteps !== undefined && c.trainedBetas.length !== c.numTrainTimesteps) {
    throw new ModelError(
      `trained_betas has ${c.trainedBetas.length} values but num_train_timesteps is ${c.numTrainTimesteps}`,
      source,
    );
  }
  return c;
}

/**
 * The config with a scheduler class's defaults filled in for every key the file leaves out, as
 * diffusers' `from_config` does.
 */
export function withDefaults<D extends SchedulerConfig>(config: SchedulerConfig, defaults: Required<D>): Required<D> & SchedulerConfig {
  const merged: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(config)) if (value !== undefined) merged[key] = value;
  return merged as Required<D> & SchedulerConfig;
}

/** Training-schedule defaults shared by the diffusers scheduler classes (linear 1e-4 .. 0.02 over 1000). */
export const TRAINING_DEFAULTS = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear' as BetaSchedule,
  rescaleBetasZeroSnr: false,
  predictionType: 'epsilon' as PredictionType,
};
