// The canonical recipe: a resolved scene with every default filled, paths absolute and normalised, and a
// fixed key order; and its hash, the identity of the pixels it produces.
//
// The hash covers what changes pixels and nothing else: not `output` (where the PNG goes), not `purpose`
// (embedded as metadata, but editing the sentence must not force a re-render; the next render picks it
// up), not the scene's own path. Files enter the hash by content hash when the caller supplies one (the
// engine does), otherwise by their project-relative path, never by absolute path, so the same checkout
// hashes the same on every machine. The engine version always enters it.
import { createHash } from 'node:crypto';
import { ENGINE_VERSION } from '../version';
import type { VisibleLabel } from '../watermark/visibleLabel';
import { tuningOptionsForRecipe, type TuningOptions } from './sceneOptions';
import type { Audience, ControlType, PrecisionName, RngName, SamplerName, ScheduleName } from './sceneSpec';

export const RECIPE_FORMAT = 'imgprompt.recipe/1';

export interface RecipeFile {
  /** Absolute, normalised. */
  path: string;
  /** Location-independent name: project-relative POSIX path, or the model's bare name. */
  ref: string;
}

/** A textual-inversion embedding the prompts use (scene/embeddingFiles.ts). */
export interface RecipeEmbedding extends RecipeFile {
  /** What follows `embedding:` in the prompt (the file's name, or its path from the scene). */
  name: string;
  /** Also matched as a bare word (a file of the model's embeddings folder). */
  byName: boolean;
}

export interface Recipe {
  format: typeof RECIPE_FORMAT;
  /** Absolute path of the scene file (not hashed). */
  scene: string;
  model: RecipeFile;
  /** Whitespace runs collapsed to one space and trimmed, as CLIP's tokenizer does anyway. */
  prompt: string;
  negative: string;
  /** Decimal digits of the seed (0 … 2^64 − 1): JSON numbers cannot hold it exactly. */
  seed: string;
  width: number;
  height: number;
  sampler: SamplerName;
  schedule: ScheduleName;
  steps: number;
  guidance: number;
  rng: RngName;
  /** Weight precision of the UNet; hashed only when not `fp32`, so older recipes keep their hashes. */
  precision: PrecisionName;
  /** Tuning options (sceneOptions.ts), every one with its value; hashed only where not at its default. */
  options: TuningOptions;
  loras: (RecipeFile & { weight: number })[];
  /** `net`: the ControlNet the scene names (control[].model); absent: the model folder's for the type. */
  control: (RecipeFile & { type: ControlType; strength: number; start: number; end: number; net?: RecipeFile })[];
  /** Image-to-image; with `mask`, inpainting (hashed only when present, so older recipes keep their hashes). */
  init: (RecipeFile & { strength: number; mask?: RecipeFile }) | null;
  /** Textual-inversion embeddings the prompt or negative use; absent when none (so older hashes hold). */
  embeddings?: RecipeEmbedding[];
  /** Absolute path of the PNG (not hashed). */
  output: string;
  /** Why the figure exists (embedded in the PNG, not hashed). */
  purpose: string | null;
  /** The render server the scene names (not hashed: a server renders the same recipe); absent for this machine. */
  backend?: string;
  /** The visible label burned into the pixels (hashed); absent when the scene has none. */
  label?: VisibleLabel;
  /** Who the figure is for (embedded in the PNG, not hashed); absent in recipes made before the key existed. */
  audience?: Audience;
  /** The model's licence as the scene states it (`license:`; recorded, not hashed: it changes no pixels). */
  license?: string;
}

/** What the engine adds to a recipe's identity beyond the scene itself. */
export interface RecipeHashInputs {
  /** Content hashes by absolute path, as recorded in the recipe (model folder, LoRAs, images). */
  contentHashes?: Readonly<Record<string, string>>;
  /** Defaults to this build's ENGINE_VERSION. */
  engineVersion?: string;
  /** Other pixel-affecting facts, e.g. `{ onnxruntime: '1.30.0' }`. */
  extra?: Readonly<Record<string, string>>;
}

/**
 * JSON with keys sorted at every level and no whitespace: equal values give equal text. Rejects what JSON
 * cannot represent faithfully (non-finite numbers, undefined, bigint).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value}`);
    return JSON.stringify(value === 0 ? 0 : value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  throw new TypeError(`canonicalJson: cannot encode ${typeof value}`);
}

/** The pixel-affecting projection of a recipe that recipeHash digests. */
export function recipeHashMaterial(recipe: Recipe, inputs: RecipeHashInputs = {}): unknown {
  const file = (f: RecipeFile) => {
    const content = inputs.contentHashes?.[f.path];
    return content === undefined ? { ref: f.ref } : { content };
  };
  return {
    format: recipe.format,
    engine: inputs.engineVersion ?? ENGINE_VERSION,
    extra: inputs.extra ?? {},
    model: file(recipe.model),
    prompt: recipe.prompt,
    negative: recipe.negative,
    seed: recipe.seed,
    width: recipe.width,
    height: recipe.height,
    sampler: recipe.sampler,
    schedule: recipe.schedule,
    steps: recipe.steps,
    guidance: recipe.guidance,
    rng: recipe.rng,
    precision: recipe.precision === 'fp32' ? undefined : recipe.precision,
    options: tuningOptionsForRecipe(recipe.options),
    loras: recipe.loras.map((l) => ({ ...file(l), weight: l.weight })),
    control: recipe.control.map((c) => ({ ...file(c), type: c.type, strength: c.strength, start: c.start, end: c.end, net: c.net ? file(c.net) : undefined })),
    init: recipe.init && { ...file(recipe.init), strength: recipe.init.strength, ...(recipe.init.mask ? { mask: file(recipe.init.mask) } : {}) },
    label: recipe.label,
    embeddings: recipe.embeddings?.length ? recipe.embeddings.map((e) => ({ ...file(e), name: e.name, byName: e.byName })) : undefined,
  };
}

/** sha256 (lowercase hex) of the canonical JSON of the recipe's pixel-affecting fields. */
export function recipeHash(recipe: Recipe, inputs: RecipeHashInputs = {}): string {
  return createHash('sha256').update(canonicalJson(recipeHashMaterial(recipe, inputs))).digest('hex');
}
