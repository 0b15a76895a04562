// Tuning options: scalar scene keys declared once, here, with their type, limits, default and
// documentation. The parser, the recipe (and its hash), the portable recipe in the PNG, recipe diffs,
// the PNG importer and the editor's completion and hover all read this table, so a new option is one
// entry here plus the code that uses its value (and the JSON Schema, grammar and docs that describe it).
//
// An option at its default is left out of the hash and of the PNG, so adding one never changes the
// identity of an existing figure.
import type { NumberLimits } from './sceneSpec';

export interface NumberOption {
  readonly key: string;
  readonly type: 'number';
  readonly limits: NumberLimits;
  readonly default: number;
  /** One or two sentences for hover and docs. */
  readonly doc: string;
}

export interface ChoiceOption {
  readonly key: string;
  readonly type: 'choice';
  readonly values: readonly string[];
  readonly default: string;
  readonly doc: string;
}

/** Free text (SDXL's prompt_2); empty is the default and is left out of hashes. */
export interface TextOption {
  readonly key: string;
  readonly type: 'text';
  readonly default: string;
  readonly doc: string;
}

export type TuningOption = NumberOption | ChoiceOption | TextOption;

export const TUNING_OPTIONS = [
  {
    key: 'guidance_rescale',
    type: 'number',
    limits: { min: 0, max: 1 },
    default: 0,
    doc:
      'Rescales the guided prediction toward the standard deviation of the prompt-only prediction ' +
      '(Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed", §3.4): ' +
      '0 is off; about 0.7 counters the over-exposure of high guidance, notably with v-prediction models.',
  },
  {
    key: 'clip_skip',
    type: 'number',
    limits: { min: 1, max: 12, integer: true },
    default: 1,
    doc:
      "Conditions on the text encoder's hidden state N layers from the end, final layer norm applied, as " +
      'AUTOMATIC1111\'s "Clip skip": 1 is the last layer (as exported); 2, the penultimate, is what ' +
      'NovelAI-derived (anime) SD 1.x fine-tunes expect.',
  },
  {
    key: 'shift',
    type: 'number',
    limits: { min: 0, max: 100 },
    default: 0,
    doc:
      "Timestep shift of flow-matching models rendered on a server (ComfyUI's ModelSamplingAuraFlow for " +
      'Z-Image and Qwen-Image): 0 keeps the family default (3 and 3.5 in the published workflows). Refused for ' +
      'families without one.',
  },
  {
    key: 'distilled_guidance',
    type: 'number',
    limits: { min: 0, max: 100 },
    default: 0,
    doc:
      'Guidance fed into a guidance-distilled model (FLUX.1 dev, through CLIPTextEncodeFlux), apart from ' +
      'classifier-free `guidance`: 0 keeps the family default (3.5). Refused for families without a guidance embedding.',
  },
  {
    key: 'watermark',
    type: 'choice',
    values: ['on', 'off'],
    default: 'on',
    doc:
      'An invisible watermark (±2 levels in the luma) carrying the first 32 bits of the recipe hash, so ' +
      '`imgprompt inspect` can tie the image to its recipe after its metadata was stripped, re-encoded as ' +
      'JPEG or WebP, cropped or halved in size. `off` writes the pixels as the model made them.',
  },
  {
    key: 'prompt_2',
    type: 'text',
    default: '',
    doc:
      "For SDXL models, the prompt of the second text encoder (OpenCLIP bigG) alone, as diffusers' prompt_2; " +
      'empty (the default) sends the prompt to both encoders. Other models ignore it.',
  },
  {
    key: 'aesthetic_score',
    type: 'number',
    limits: { min: 0, max: 10 },
    default: 6,
    doc:
      "For SDXL refiner models (model_index.json's requires_aesthetics_score): the aesthetic score conditioning the prompt, " +
      "the last of the refiner's five time ids, as diffusers' aesthetic_score (6.0). Other models ignore it.",
  },
  {
    key: 'negative_aesthetic_score',
    type: 'number',
    limits: { min: 0, max: 10 },
    default: 2.5,
    doc: "For SDXL refiner models: the aesthetic score conditioning the negative prompt, as diffusers' negative_aesthetic_score (2.5). Other models ignore it.",
  },
] as const satisfies readonly TuningOption[];

export type TuningOptionKey = (typeof TUNING_OPTIONS)[number]['key'];
export type TuningValue = number | string;
/** Every tuning option with its value (defaults filled). */
export type TuningOptions = Readonly<Record<TuningOptionKey, TuningValue>>;

export const TUNING_OPTION_KEYS: readonly TuningOptionKey[] = TUNING_OPTIONS.map((o) => o.key);

export function tuningOption(key: string): TuningOption | undefined {
  return (TUNING_OPTIONS as readonly TuningOption[]).find((o) => o.key === key);
}

/** Whether `value` is one `option` accepts (type, limits, integer-ness, choices). */
export function isTuningValue(option: TuningOption, value: unknown): value is TuningValue {
  if (option.type === 'choice') return typeof value === 'string' && option.values.includes(value);
  if (option.type === 'text') return typeof value === 'string';
  const { min, max, integer, exclusiveMin } = option.limits;
  return typeof value === 'number' && Number.isFinite(value) && (exclusiveMin ? value > min : value >= min) && value <= max && (!integer || Number.isInteger(value));
}

/** The options a scene states, with every other option at its default. */
export function resolveTuningOptions(stated: Readonly<Partial<Record<string, TuningValue>>>): TuningOptions {
  const out: Record<string, TuningValue> = {};
  for (const o of TUNING_OPTIONS as readonly TuningOption[]) out[o.key] = stated[o.key] ?? o.default;
  return out as TuningOptions;
}

/** The options that differ from their defaults, for hashes and PNGs; undefined when none do. */
export function tuningOptionsForRecipe(options: Readonly<Partial<Record<string, TuningValue>>> | undefined): Record<string, TuningValue> | undefined {
  if (!options) return undefined;
  const out: Record<string, TuningValue> = {};
  for (const o of TUNING_OPTIONS as readonly TuningOption[]) {
    const v = options[o.key];
    if (v !== undefined && v !== o.default) out[o.key] = v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** A number option's value as a number (the recipe keeps every value typed by its declaration). */
export function numberOption(options: TuningOptions, key: TuningOptionKey): number {
  const v = options[key];
  if (typeof v !== 'number') throw new TypeError(`tuning option ${key} is not a number`);
  return v;
}
