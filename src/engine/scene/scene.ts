// The typed form of a parsed .imgprompt file, before defaults and the model are applied. Fields are
// undefined when absent or invalid (the diagnostics say which); `locations` maps each key path to where
// its key and value are in the source, so later checks (files, model, size) report at the right place.
import type { SourceRange } from '../errors';
import type { TuningOptionKey, TuningValue } from './sceneOptions';
import type { Audience, ControlType, PrecisionName, RngName, SamplerName, ScheduleName } from './sceneSpec';

/** `{megapixels, aspect}` (either may be left to defaults) or `{width, height}`. */
export type SceneSize =
  | { kind: 'budget'; megapixels?: number; aspect?: number }
  | { kind: 'pixels'; width: number; height: number };

export interface SceneLora {
  /** As written: relative to the scene's folder. */
  file: string;
  weight?: number;
}

export interface SceneControl {
  type: ControlType;
  image: string;
  strength?: number;
  start?: number;
  end?: number;
  /** The ControlNet by reference (hf:, Civitai) or folder path; the model folder's own for `type` when absent. */
  model?: string;
}

export interface SceneInit {
  image: string;
  /** Inpainting: white repaints, black keeps (diffusers' convention); relative to the scene. */
  mask?: string;
  strength?: number;
}

export interface Scene {
  model?: string;
  prompt?: string;
  negative?: string;
  /** 0 ≤ seed < 2^64, kept exact (YAML numbers lose precision beyond 2^53). */
  seed?: bigint;
  size?: SceneSize;
  sampler?: SamplerName;
  schedule?: ScheduleName;
  steps?: number;
  guidance?: number;
  loras: SceneLora[];
  control: SceneControl[];
  init?: SceneInit;
  rng?: RngName;
  precision?: PrecisionName;
  output?: string;
  /** Extra seeds rendered beside the main one. */
  variants?: bigint[];
  purpose?: string;
  /** A render server by name (imgprompt.backends.json) that renders this scene instead of this machine. */
  backend?: string;
  /** A visible label burned into the figure (text, corner, size in px, opacity); omitted fields default. False: `label: off`, none even where a setting asks for one. */
  label?: { text?: string; corner?: string; size?: number; opacity?: number } | false;
  /** Who the figure is for (`team` or `public`); the default comes from the settings. */
  audience?: Audience;
  /** The model's licence (SPDX or Hugging Face id), over what the lockfile or model card says. */
  license?: string;
  /** Tuning options (sceneOptions.ts) the scene states. */
  options: Partial<Record<TuningOptionKey, TuningValue>>;
}

/** Where a key and its value are. Paths join keys and list indices with dots: `loras.0.file`. */
export interface SceneLocation {
  key?: SourceRange;
  value: SourceRange;
}

export type SceneLocations = ReadonlyMap<string, SceneLocation>;
