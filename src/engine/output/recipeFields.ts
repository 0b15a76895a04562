// The fields of a render recipe that the metadata writers read. The recipe itself is produced by the
// scene resolver and the engine; here it is an opaque JSON value of which these members are known.

export interface RecipeLoRAFields {
  /** Path of the LoRA file (`file`, or the scene recipe's `path` / `ref`); its base name is what other tools show. */
  file?: string;
  path?: string;
  ref?: string;
  weight: number;
  /** Content hash (hex, optionally prefixed `sha256:`). */
  hash?: string;
}

export interface RecipeMetadataFields {
  /** The scene file, project-relative (its name becomes the XMP dc:title). */
  scene?: string;
  prompt?: string;
  negative?: string;
  seed?: number | bigint | string;
  steps?: number;
  sampler?: string;
  schedule?: string;
  guidance?: number;
  width?: number;
  height?: number;
  /** The model: `name` (or the scene recipe's `ref`, a bare name or project-relative path) and content hash. */
  model?: { name?: string; ref?: string; path?: string; hash?: string };
  loras?: readonly RecipeLoRAFields[];
  /** The recipe hash (decides whether an output is up to date). */
  hash?: string;
  engine?: { version?: string; onnxruntime?: string };
  /** The noise generator, e.g. `torch-cpu-mt19937`. */
  rng?: string;
  purpose?: string | null;
  /** Who the figure is for (`team`, `public`); also written into the XMP packet. */
  audience?: string;
  init?: { strength?: number; path?: string; ref?: string } | null;
  /** Tuning options that differ from their defaults, by scene key (`clip_skip`, `guidance_rescale`). */
  options?: Readonly<Record<string, unknown>>;
}

/** The bare hex digits of a content hash (`sha256:abc…` → `abc…`). */
export function hexDigest(hash: string): string {
  return hash.replace(/^[a-z0-9]+:/i, '');
}

/** The file a recipe LoRA names, whichever field carries it. */
export function loraFile(lora: RecipeLoRAFields): string {
  return lora.file ?? lora.path ?? lora.ref ?? '';
}

/** The model's display name: its `name`, else the base name of its `ref` or `path`. */
export function modelName(model: RecipeMetadataFields['model']): string | undefined {
  const name = model?.name ?? model?.ref ?? model?.path;
  return name === undefined ? undefined : (name.split(/[\\/]/).filter(Boolean).pop() ?? name);
}

/** A LoRA's display name: its file's base name without the extension. */
export function loraName(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  return base.replace(/\.(safetensors|ckpt|pt|bin|onnx)$/i, '');
}
