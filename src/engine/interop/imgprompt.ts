// Reads our own iTXt `imgprompt` chunk (the canonical recipe JSON) back into normalised metadata.
import { describeValue, parseCount, parseNumber, parseSeed, type ImageLoRA, type ImageMetadata } from './imageMetadata';
import { isSamplerName, isScheduleName } from '../output/samplerNames';
import { parseJsonLossless, type JsonValue } from './parseJsonLossless';
import { loraName } from '../output/recipeFields';
import { PRECISIONS, type PrecisionName } from '../scene/sceneSpec';
import { isTuningValue, tuningOption } from '../scene/sceneOptions';

function isRecord(v: unknown): v is Record<string, JsonValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: JsonValue | undefined): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Members of the recipe that are mapped or reported as provenance rather than listed as unmapped. */
const MAPPED = new Set(['format', 'scene', 'output', 'prompt', 'negative', 'seed', 'steps', 'sampler', 'schedule', 'guidance', 'width', 'height', 'model', 'loras', 'purpose', 'init', 'hash', 'engine', 'rng', 'precision', 'options', 'audience', 'watermark', 'label', 'license']);

/**
 * Parses the imgprompt chunk text losslessly (64-bit seeds stay exact). Undefined if not a JSON object;
 * InputError when it passes a cap of parseJsonLossless (size, depth, values).
 */
export function parseRecipeText(text: string): Record<string, JsonValue> | undefined {
  let value: JsonValue;
  try {
    value = parseJsonLossless(text);
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
  return isRecord(value) ? value : undefined;
}

/** Normalised metadata from a stored recipe. */
export function metadataFromRecipe(recipe: Record<string, JsonValue>): ImageMetadata {
  const meta: ImageMetadata = { source: 'imgprompt', loras: [], unmapped: {} };
  if (typeof recipe.prompt === 'string') meta.prompt = recipe.prompt;
  if (typeof recipe.negative === 'string' && recipe.negative !== '') meta.negative = recipe.negative;
  const seed = parseSeed(recipe.seed);
  if (seed !== undefined) meta.seed = seed;
  const steps = parseCount(recipe.steps);
  if (steps !== undefined) meta.steps = steps;
  if (isSamplerName(recipe.sampler)) meta.sampler = recipe.sampler;
  if (isScheduleName(recipe.schedule)) meta.schedule = recipe.schedule;
  const guidance = parseNumber(recipe.guidance);
  if (guidance !== undefined) meta.guidance = guidance;
  if (typeof recipe.precision === 'string' && recipe.precision !== 'fp32') {
    if ((PRECISIONS as readonly string[]).includes(recipe.precision)) meta.precision = recipe.precision as PrecisionName;
    else meta.unmapped.precision = recipe.precision;
  }
  if (isRecord(recipe.options)) {
    // Any option the registry declares, checked against its declaration; anything else stays visible.
    for (const [key, value] of Object.entries(recipe.options)) {
      const option = tuningOption(key);
      if (option && isTuningValue(option, value)) (meta.options ??= {})[key] = value;
      else meta.unmapped[`options.${key}`] = describeValue(value);
    }
  }
  const width = parseCount(recipe.width);
  const height = parseCount(recipe.height);
  if (width !== undefined) meta.width = width;
  if (height !== undefined) meta.height = height;
  const model = recipe.model;
  if (isRecord(model)) {
    // The scene recipe's `ref` is what a scene's `model:` accepts (a bare name or project-relative path).
    const name = str(model.ref) ?? str(model.name) ?? str(model.path);
    if (name) meta.model = name;
    const hash = str(model.hash);
    if (hash) meta.modelHash = hash;
  }
  for (const entry of Array.isArray(recipe.loras) ? recipe.loras : []) {
    if (!isRecord(entry)) continue;
    const file = str(entry.file) ?? str(entry.path) ?? str(entry.ref);
    if (!file) continue;
    const lora: ImageLoRA = { name: loraName(file), weight: parseNumber(entry.weight) ?? 1, file };
    const hash = str(entry.hash);
    if (hash) lora.hash = hash;
    meta.loras.push(lora);
  }
  if (isRecord(recipe.init)) {
    const strength = parseNumber(recipe.init.strength);
    if (strength !== undefined) meta.denoise = strength;
    const image = str(recipe.init.path) ?? str(recipe.init.image) ?? str(recipe.init.ref);
    if (image) meta.initImage = image;
  }
  if (typeof recipe.purpose === 'string') meta.purpose = recipe.purpose;
  if (typeof recipe.license === 'string' && recipe.license) meta.license = recipe.license;
  for (const [key, value] of Object.entries(recipe)) {
    if (!MAPPED.has(key) && value !== null && !(Array.isArray(value) && value.length === 0)) meta.unmapped[key] = describeValue(value);
  }
  return meta;
}
