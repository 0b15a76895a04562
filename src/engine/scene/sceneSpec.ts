// The vocabulary of the scene format v1: key names, allowed values and numeric limits. The parser, the
// JSON Schema test, and the extension's completion all read these lists, so they cannot drift apart.

import type { PrecisionName } from '../onnx/precisionNames';
import { TUNING_OPTIONS } from './sceneOptions';

const CORE_SCENE_KEYS = [
  'model',
  'prompt',
  'negative',
  'seed',
  'size',
  'sampler',
  'schedule',
  'steps',
  'guidance',
  'loras',
  'control',
  'init',
  'rng',
  'precision',
  'output',
  'variants',
  'purpose',
  'backend',
  'audience',
  'label',
  'license',
] as const;
/** Every top-level key: the core keys, then the tuning options of sceneOptions.ts. */
export const SCENE_KEYS = [...CORE_SCENE_KEYS, ...TUNING_OPTIONS.map((o) => o.key)] as const;
export type SceneKey = (typeof CORE_SCENE_KEYS)[number] | (typeof TUNING_OPTIONS)[number]['key'];

export { SAMPLERS, SCHEDULES, type SamplerName, type ScheduleName } from '../schedulers/samplerNames';
export { PRECISIONS, type PrecisionName } from '../onnx/precisionNames';

/** Who a figure is for: `team` figures stay inside the project; `public` ones may be published. */
export const AUDIENCES = ['team', 'public'] as const;
export type Audience = (typeof AUDIENCES)[number];

export const CONTROL_TYPES = ['canny', 'scribble', 'raw'] as const;
export type ControlType = (typeof CONTROL_TYPES)[number];

/** `cpu`: PyTorch's CPU generator (mt19937), so a seed means the same noise as diffusers/ComfyUI on CPU. */
export const RNGS = ['cpu'] as const;
export type RngName = (typeof RNGS)[number];


export const SIZE_BUDGET_KEYS = ['megapixels', 'aspect'] as const;
export const SIZE_PIXEL_KEYS = ['width', 'height'] as const;
export const LORA_KEYS = ['file', 'weight'] as const;
export const CONTROL_KEYS = ['type', 'image', 'strength', 'start', 'end', 'model'] as const;
export const INIT_KEYS = ['image', 'strength', 'mask'] as const;
export const VARIANTS_KEYS = ['seeds'] as const;
export const LABEL_KEYS = ['text', 'corner', 'size', 'opacity'] as const;

/** Inclusive numeric limits; `integer` rejects fractions. */
export interface NumberLimits {
  min: number;
  max: number;
  integer?: boolean;
  /** When true, `min` itself is not allowed (e.g. megapixels must be > 0). */
  exclusiveMin?: boolean;
}

export const LIMITS = {
  steps: { min: 1, max: 1000, integer: true },
  guidance: { min: 0, max: 50 },
  megapixels: { min: 0, max: 64, exclusiveMin: true },
  /** Width / height; 16384 px is far beyond any model here and keeps area arithmetic exact. */
  pixels: { min: 8, max: 16384, integer: true },
  aspect: { min: 1 / 8, max: 8 },
  loraWeight: { min: -10, max: 10 },
  controlStrength: { min: 0, max: 2 },
  controlStart: { min: 0, max: 1 },
  controlEnd: { min: 0, max: 1 },
  initStrength: { min: 0, max: 1, exclusiveMin: true },
} satisfies Record<string, NumberLimits>;

export const SEED_MAX = (1n << 64n) - 1n;

/** Defaults that do not depend on the model. Model-dependent ones come from ModelConfig.defaults. */
export const SCENE_DEFAULTS = {
  model: 'tiny-shapes',
  negative: '',
  seed: 0n,
  rng: 'cpu' as RngName,
  precision: 'fp32' as PrecisionName,
  loraWeight: 1,
  controlStrength: 1,
  controlStart: 0,
  controlEnd: 1,
  initStrength: 0.75,
  aspect: 1,
  /** Research imagery stays inside the team unless a scene (or the settings) says it is for the public. */
  audience: 'team' as Audience,
};
