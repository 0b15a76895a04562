// Builds the Scheduler a scene asks for (sampler name + sigma schedule) from the model's
// scheduler_config.json.

import { InputError } from '../errors';
import { DDIMScheduler } from './DDIMScheduler';
import { DPMSolverMultistepScheduler } from './DPMSolverMultistepScheduler';
import { EulerAncestralScheduler } from './EulerAncestralScheduler';
import { EulerDiscreteScheduler } from './EulerDiscreteScheduler';
import { LCMScheduler } from './LCMScheduler';
import { SAMPLERS, SCHEDULES } from './samplerNames';
import type { SamplerName, Scheduler, SchedulerOptions, SigmaSchedule } from './Scheduler';
import type { SchedulerConfig } from './SchedulerConfig';

/** The sigma schedules each sampler supports (DDIM and LCM step on alpha bars, not sigmas). */
export const SCHEDULES_OF: Readonly<Record<SamplerName, readonly SigmaSchedule[]>> = {
  euler: ['normal', 'karras'],
  euler_a: ['normal', 'karras'],
  dpmpp_2m: ['normal', 'karras'],
  ddim: ['normal'],
  lcm: ['normal'],
};

/**
 * A scheduler for `numInferenceSteps` steps. `schedule` defaults to what the config says
 * (`use_karras_sigmas`). Throws InputError naming a bad sampler, schedule or step count.
 */
export function createScheduler(
  name: SamplerName,
  schedule: SigmaSchedule | undefined,
  config: SchedulerConfig,
  numInferenceSteps: number,
  options: SchedulerOptions = {},
): Scheduler {
  if (!SAMPLERS.includes(name)) {
    throw new InputError(`unknown sampler '${String(name)}'; expected one of ${SAMPLERS.join(', ')}`);
  }
  const resolved: SigmaSchedule = schedule ?? (config.useKarrasSigmas && SCHEDULES_OF[name].includes('karras') ? 'karras' : 'normal');
  if (!SCHEDULES.includes(resolved)) {
    throw new InputError(`unknown sigma schedule '${String(resolved)}'; expected one of ${SCHEDULES.join(', ')}`);
  }
  if (!SCHEDULES_OF[name].includes(resolved)) {
    throw new InputError(`sampler '${name}' does not support the '${resolved}' schedule; it supports ${SCHEDULES_OF[name].join(', ')}`);
  }
  if (options.eta !== undefined && name !== 'ddim') {
    throw new InputError(`eta applies to ddim only, not to '${name}'`);
  }
  switch (name) {
    case 'euler':
      return new EulerDiscreteScheduler(config, numInferenceSteps, resolved);
    case 'euler_a':
      return new EulerAncestralScheduler(config, numInferenceSteps, resolved);
    case 'ddim':
      return new DDIMScheduler(config, numInferenceSteps, options);
    case 'dpmpp_2m':
      return new DPMSolverMultistepScheduler(config, numInferenceSteps, resolved);
    case 'lcm':
      return new LCMScheduler(config, numInferenceSteps);
  }
}
