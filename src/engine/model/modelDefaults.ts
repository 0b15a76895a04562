// The defaults a scene inherits from its model when it does not state sampler, schedule, steps or
// guidance, chosen from what the model's own files say. Few-step distillations need very different ones
// from a base model, so they are recognised first:
//
// - LCM (Latent Consistency Models, Luo et al. 2023): the scheduler config is an LCMScheduler, the
//   pipeline class a LatentConsistencyModelPipeline, or the UNet config has time_cond_proj_dim (the
//   guidance embedding of an LCM-distilled UNet; diffusers then runs no classifier-free guidance). The LCM
//   sampler, 4 steps, and guidance 8.5 when the UNet embeds it (diffusers' LCM pipeline default: it costs
//   nothing, there is no second branch), else 1 (LCM-LoRA merges: no second branch either).
// - Turbo (adversarial diffusion distillation: SD-Turbo, SDXL-Turbo): an Euler or Euler ancestral
//   scheduler with timestep_spacing "trailing" and no zero-terminal-SNR rescale (the config those
//   repositories ship; base models ship leading or linspace, and zero-SNR v-prediction fine-tunes, which
//   also use trailing, want a full step count), or "turbo" as a word in the folder's name or a config's
//   _name_or_path. The config's Euler sampler (euler_a when it names none), 4 steps (the model cards
//   recommend 1 to 4; 4 is the better image and leaves image-to-image at the default strength 3 steps to
//   run), guidance 0 (trained without classifier-free guidance), and trailing spacing, which the engine
//   uses even when the scheduler config says otherwise (with leading spacing the first step would start
//   far below pure noise).
// - Lightning (progressive adversarial distillation, ByteDance's SDXL-Lightning): "lightning" as a word in
//   the folder's name or a config's _name_or_path. Its model card: Euler with trailing timesteps, no
//   classifier-free guidance (guidance 0), and the step count the checkpoint was distilled for, which its
//   name carries (`sdxl_lightning_4step`: 1, 2, 4 or 8), else 4.
// - Anything else: the scheduler config's sampler, 20 steps, guidance 7.5.
//
// An `imgprompt.defaults` block in model_index.json overrides any of these field by field.
import { basename } from 'node:path';
import type { SchedulerConfig, TimestepSpacing } from '../schedulers/SchedulerConfig';
import type { SamplerName } from '../schedulers/samplerNames';
import type { ModelDefaults, ModelScheduler, UNetConfig } from './modelConfig';

/** A few-step distillation recognised from a model's files, and the evidence. */
export interface Distillation {
  readonly kind: 'lcm' | 'turbo' | 'lightning';
  /** What gave it away, for hovers and logs, e.g. `scheduler LCMScheduler`. */
  readonly signal: string;
}

/** What the model's files say, as modelConfig.ts has read them. */
export interface ModelEvidence {
  readonly scheduler: ModelScheduler;
  readonly unet: Pick<UNetConfig, 'raw'>;
  /** model_index.json. */
  readonly index: Readonly<Record<string, unknown>>;
  /** The model folder's path (its name is evidence too: `sd-turbo`, `models--stabilityai--sdxl-turbo`). */
  readonly dir: string;
}

const SAMPLER_OF_SCHEDULER: Readonly<Record<string, SamplerName>> = {
  EulerDiscreteScheduler: 'euler',
  EulerAncestralDiscreteScheduler: 'euler_a',
  DDIMScheduler: 'ddim',
  DPMSolverMultistepScheduler: 'dpmpp_2m',
  LCMScheduler: 'lcm',
};
const EULER_CLASSES = new Set(['EulerDiscreteScheduler', 'EulerAncestralDiscreteScheduler']);
const TURBO_WORD = /(?:^|[^a-z0-9])turbo(?:$|[^a-z0-9])/i;
const LIGHTNING_WORD = /(?:^|[^a-z0-9])lightning(?:$|[^a-z0-9])/i;
const LIGHTNING_STEPS = /(?:^|[^a-z0-9])([1248])[-_ ]?steps?(?:$|[^a-z0-9])/i;

/** LCM and LCM-LoRA: the LCM sampler's usual step count. */
const LCM_STEPS = 4;
/** diffusers' LatentConsistencyModelPipeline default guidance_scale, for UNets that embed it. */
const LCM_EMBEDDED_GUIDANCE = 8.5;
const TURBO_STEPS = 4;

function guidanceEmbeddingWidth(unet: ModelEvidence['unet']): number | undefined {
  const width = unet.raw.time_cond_proj_dim;
  return typeof width === 'number' && Number.isInteger(width) && width > 0 ? width : undefined;
}

function namesTurbo(evidence: ModelEvidence, word = TURBO_WORD): string | undefined {
  return nameMatching(evidence, word)?.signal;
}

/** The first name of the model (folder, configs' _name_or_path) in which `word` occurs. */
function nameMatching(evidence: ModelEvidence, word: RegExp): { signal: string; name: string } | undefined {
  const candidates: [string, unknown][] = [
    ['the folder name', basename(evidence.dir)],
    ['unet/config.json _name_or_path', evidence.unet.raw._name_or_path],
    ['model_index.json _name_or_path', evidence.index._name_or_path],
  ];
  for (const [where, name] of candidates) {
    if (typeof name === 'string' && word.test(name)) return { signal: `${where} '${name}'`, name };
  }
  return undefined;
}

/** The few-step distillation the model's files point to, if any. */
export function recogniseDistillation(evidence: ModelEvidence): Distillation | undefined {
  const { scheduler, unet, index } = evidence;
  const width = guidanceEmbeddingWidth(unet);
  if (width !== undefined) return { kind: 'lcm', signal: `unet/config.json time_cond_proj_dim ${width} (a guidance-embedded LCM UNet)` };
  if (scheduler.className === 'LCMScheduler') return { kind: 'lcm', signal: 'scheduler LCMScheduler' };
  if (typeof index._class_name === 'string' && /LatentConsistencyModel/.test(index._class_name)) return { kind: 'lcm', signal: `pipeline ${index._class_name}` };
  const lightning = namesTurbo(evidence, LIGHTNING_WORD);
  if (lightning) return { kind: 'lightning', signal: lightning };
  const config: SchedulerConfig = scheduler.config;
  if (EULER_CLASSES.has(scheduler.className) && config.timestepSpacing === 'trailing' && config.rescaleBetasZeroSnr !== true) {
    return { kind: 'turbo', signal: `scheduler ${scheduler.className} with trailing timestep spacing` };
  }
  const named = namesTurbo(evidence);
  if (named) return { kind: 'turbo', signal: named };
  return undefined;
}

/**
 * The defaults before model_index.json's `imgprompt.defaults` block is applied, with the distillation
 * they were chosen for.
 */
export function inferModelDefaults(evidence: ModelEvidence): ModelDefaults {
  const { scheduler } = evidence;
  const fromClass = SAMPLER_OF_SCHEDULER[scheduler.className];
  const distillation = recogniseDistillation(evidence);
  if (distillation?.kind === 'lcm') {
    const embedded = guidanceEmbeddingWidth(evidence.unet) !== undefined;
    return { sampler: 'lcm', schedule: 'normal', steps: LCM_STEPS, guidance: embedded ? LCM_EMBEDDED_GUIDANCE : 1, distillation };
  }
  if (distillation?.kind === 'lightning') {
    const steps = Number(LIGHTNING_STEPS.exec(nameMatching(evidence, LIGHTNING_WORD)?.name ?? '')?.[1] ?? TURBO_STEPS);
    const spacing: TimestepSpacing | undefined = scheduler.config.timestepSpacing === 'trailing' ? undefined : 'trailing';
    return { sampler: 'euler', schedule: 'normal', steps, guidance: 0, distillation, ...(spacing ? { timestepSpacing: spacing } : {}) };
  }
  if (distillation?.kind === 'turbo') {
    const sampler = fromClass === 'euler' || fromClass === 'euler_a' ? fromClass : 'euler_a';
    const spacing: TimestepSpacing | undefined = scheduler.config.timestepSpacing === 'trailing' ? undefined : 'trailing';
    return { sampler, schedule: 'normal', steps: TURBO_STEPS, guidance: 0, distillation, ...(spacing ? { timestepSpacing: spacing } : {}) };
  }
  return { sampler: fromClass ?? 'euler', schedule: scheduler.config.useKarrasSigmas ? 'karras' : 'normal', steps: 20, guidance: 7.5 };
}

/** The scheduler config a render uses: the file's, with the spacing a distillation needs. */
export function effectiveSchedulerConfig(model: { scheduler: ModelScheduler; defaults: ModelDefaults }): SchedulerConfig {
  const spacing = model.defaults.timestepSpacing;
  return spacing ? { ...model.scheduler.config, timestepSpacing: spacing } : model.scheduler.config;
}
