// Reads InvokeAI's `invokeai_metadata` text chunk (JSON written by its core metadata node since 3.x):
// positive_prompt, negative_prompt, seed, steps, cfg_scale, scheduler, width, height, model, loras, strength.
// Model and LoRA references changed shape between 3.x ({model_name}) and 4.x+ ({key, hash, name}).
import { parseJsonLossless } from './parseJsonLossless';
import { describeValue, parseCount, parseNumber, parseSeed, type ImageMetadata } from './imageMetadata';
import { samplerFromInvoke } from '../output/samplerNames';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function modelName(ref: unknown): string | undefined {
  if (!isRecord(ref)) return typeof ref === 'string' ? ref : undefined;
  const name = ref.name ?? ref.model_name;
  return typeof name === 'string' ? name : undefined;
}

const MAPPED = new Set(['positive_prompt', 'negative_prompt', 'seed', 'steps', 'cfg_scale', 'scheduler', 'width', 'height', 'model', 'loras', 'strength']);

/** Normalised metadata from the parsed invokeai_metadata object. */
export function metadataFromInvoke(data: Record<string, unknown>): ImageMetadata {
  const meta: ImageMetadata = { source: 'invokeai', loras: [], unmapped: {} };
  if (typeof data.positive_prompt === 'string') meta.prompt = data.positive_prompt;
  if (typeof data.negative_prompt === 'string' && data.negative_prompt !== '') meta.negative = data.negative_prompt;
  const seed = parseSeed(data.seed);
  if (seed !== undefined) meta.seed = seed;
  const steps = parseCount(data.steps);
  if (steps !== undefined) meta.steps = steps;
  const guidance = parseNumber(data.cfg_scale);
  if (guidance !== undefined) meta.guidance = guidance;
  if (typeof data.scheduler === 'string') {
    const choice = samplerFromInvoke(data.scheduler);
    if (choice.sampler) meta.sampler = choice.sampler;
    else meta.unmapped.scheduler = data.scheduler;
    if (choice.schedule) meta.schedule = choice.schedule;
  }
  const width = parseCount(data.width);
  const height = parseCount(data.height);
  if (width !== undefined) meta.width = width;
  if (height !== undefined) meta.height = height;
  const model = modelName(data.model);
  if (model) meta.model = model;
  if (isRecord(data.model) && typeof data.model.hash === 'string') meta.modelHash = data.model.hash;
  for (const entry of Array.isArray(data.loras) ? data.loras : []) {
    if (!isRecord(entry)) continue;
    const ref = entry.model ?? entry.lora;
    const name = modelName(ref);
    if (!name) continue;
    const lora: ImageMetadata['loras'][number] = { name, weight: parseNumber(entry.weight) ?? 1 };
    if (isRecord(ref) && typeof ref.hash === 'string') lora.hash = ref.hash;
    meta.loras.push(lora);
  }
  const strength = parseNumber(data.strength);
  if (strength !== undefined && data.generation_mode !== 'txt2img') meta.denoise = strength;
  for (const [key, value] of Object.entries(data)) {
    if (MAPPED.has(key) || value === null || value === '' || (Array.isArray(value) && value.length === 0)) continue;
    meta.unmapped[key] = describeValue(value);
  }
  return meta;
}

/** Parses the invokeai_metadata chunk text. Undefined when it is not a JSON object; InputError past a cap. */
export function parseInvokeMetadata(text: string): ImageMetadata | undefined {
  let value: unknown;
  try {
    value = parseJsonLossless(text);
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
  return isRecord(value) ? metadataFromInvoke(value) : undefined;
}
