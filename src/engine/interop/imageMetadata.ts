// The normalised generation metadata that `inspect`, `import` and the preview's provenance panel show,
// whichever tool wrote the image.
import type { PrecisionName, SamplerName, ScheduleName } from '../scene/sceneSpec';
import { METADATA_LIMITS } from './metadataLimits';

export type MetadataSource = 'imgprompt' | 'automatic1111' | 'comfyui' | 'invokeai';

export interface ImageLoRA {
  /** The name the source tool uses (A1111: the tag's name; ComfyUI: the file name in its loras folder). */
  name: string;
  weight: number;
  hash?: string;
  /** The file path, when the source records one (ours: absolute). */
  file?: string;
}

export interface ImageMetadata {
  source: MetadataSource;
  prompt?: string;
  negative?: string;
  /** A bigint only when the seed does not fit a double exactly (64-bit seeds). */
  seed?: number | bigint;
  steps?: number;
  /** Our sampler name when the source's maps to one; otherwise the source's name is in `unmapped`. */
  sampler?: SamplerName;
  schedule?: ScheduleName;
  guidance?: number;
  /** The UNet's weight precision, when an imgprompt recipe records one other than fp32. */
  precision?: PrecisionName;
  /** Tuning options (scene/sceneOptions.ts) an imgprompt recipe records, by scene key. */
  options?: Record<string, number | string>;
  width?: number;
  height?: number;
  /** The model (checkpoint) name as the source names it. */
  model?: string;
  modelHash?: string;
  loras: ImageLoRA[];
  /** Image-to-image strength (ComfyUI denoise < 1, A1111 "Denoising strength", InvokeAI strength). */
  denoise?: number;
  /** The image-to-image input as the source names it (ours: absolute path; ComfyUI: LoadImage's file name). */
  initImage?: string;
  purpose?: string;
  /** The model's licence as the scene stated it (ours only). */
  license?: string;
  /** Everything else the source recorded, as `key → text`, so nothing is silently lost. */
  unmapped: Record<string, string>;
}

/**
 * Parses an integer seed from text or a JSON number, exactly (bigint beyond 2^53). Text of more than
 * METADATA_LIMITS.seedDigits digits is not a seed (and would cost a quadratic BigInt parse).
 */
export function parseSeed(value: unknown): number | bigint | undefined {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const digits = value.trim();
  if (digits.length > METADATA_LIMITS.seedDigits || !/^\d+$/.test(digits)) return undefined;
  const big = BigInt(digits);
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

/** A finite number from a JSON number or numeric text. */
export function parseNumber(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** A positive integer from a JSON number or numeric text. */
export function parseCount(value: unknown): number | undefined {
  const n = parseNumber(value);
  return n !== undefined && Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Renders any JSON-ish value as one line of text for `unmapped`. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(value);
}
