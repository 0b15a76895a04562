// How other tools name the samplers and sigma schedules that imgprompt implements, both ways.
// AUTOMATIC1111 labels: modules/sd_samplers_kdiffusion.py, sd_samplers_timesteps.py and sd_schedulers.py
// (1.9+ split "DPM++ 2M Karras" into Sampler "DPM++ 2M" + "Schedule type: Karras"; older infotexts
// still carry the suffix). ComfyUI: comfy/samplers.py KSAMPLER_NAMES / SCHEDULER_NAMES.
// InvokeAI: invokeai/backend/stable_diffusion/schedulers/schedulers.py (a `_k` suffix means Karras).

import { SAMPLERS, SCHEDULES, type SamplerName, type ScheduleName } from '../scene/sceneSpec';

export interface SamplerChoice {
  sampler?: SamplerName;
  schedule?: ScheduleName;
}

const A1111_SAMPLER: Record<SamplerName, string> = {
  euler: 'Euler',
  euler_a: 'Euler a',
  ddim: 'DDIM',
  dpmpp_2m: 'DPM++ 2M',
  lcm: 'LCM',
};

const A1111_SCHEDULE: Record<ScheduleName, string> = { normal: 'Normal', karras: 'Karras' };

export function isSamplerName(name: unknown): name is SamplerName {
  return typeof name === 'string' && (SAMPLERS as readonly string[]).includes(name);
}

export function isScheduleName(name: unknown): name is ScheduleName {
  return typeof name === 'string' && (SCHEDULES as readonly string[]).includes(name);
}

/** Our sampler as AUTOMATIC1111 labels it (`euler_a` → `Euler a`). */
export function samplerToA1111(sampler: SamplerName): string {
  return A1111_SAMPLER[sampler];
}

/** Our schedule as AUTOMATIC1111's "Schedule type" labels it. */
export function scheduleToA1111(schedule: ScheduleName): string {
  return A1111_SCHEDULE[schedule];
}

/** AUTOMATIC1111's Sampler (and optional Schedule type) label to ours; undefined members did not map. */
export function samplerFromA1111(label: string, scheduleLabel?: string): SamplerChoice {
  let name = label.trim();
  const choice: SamplerChoice = {};
  if (/ Karras$/.test(name)) {
    name = name.slice(0, -' Karras'.length);
    choice.schedule = 'karras';
  }
  const sampler = SAMPLERS.find((s) => A1111_SAMPLER[s].toLowerCase() === name.toLowerCase());
  if (sampler) choice.sampler = sampler;
  const schedule = scheduleLabel?.trim().toLowerCase();
  if (schedule === 'karras') choice.schedule = 'karras';
  else if (schedule === 'normal' || schedule === 'uniform') choice.schedule = 'normal';
  return choice;
}

/** True when AUTOMATIC1111's schedule label is one we map (`Automatic` means "the sampler's default"). */
export function isMappedA1111Schedule(label: string): boolean {
  return ['karras', 'normal', 'uniform', 'automatic'].includes(label.trim().toLowerCase());
}

const COMFY_SAMPLER: Record<string, SamplerName> = {
  euler: 'euler',
  euler_ancestral: 'euler_a',
  ddim: 'ddim',
  dpmpp_2m: 'dpmpp_2m',
  lcm: 'lcm',
};

/** ComfyUI's sampler_name / scheduler to ours. */
export function samplerFromComfy(samplerName?: string, scheduler?: string): SamplerChoice {
  const choice: SamplerChoice = {};
  if (samplerName && Object.hasOwn(COMFY_SAMPLER, samplerName)) choice.sampler = COMFY_SAMPLER[samplerName];
  if (scheduler === 'karras') choice.schedule = 'karras';
  else if (scheduler === 'normal') choice.schedule = 'normal';
  return choice;
}

/** InvokeAI's scheduler name (`euler_a`, `dpmpp_2m_k`, ...) to ours. */
export function samplerFromInvoke(scheduler: string): SamplerChoice {
  const karras = scheduler.endsWith('_k');
  const base = karras ? scheduler.slice(0, -2) : scheduler;
  const choice: SamplerChoice = {};
  if (isSamplerName(base)) {
    choice.sampler = base;
    choice.schedule = karras ? 'karras' : 'normal';
  }
  return choice;
}
