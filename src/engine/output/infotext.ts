// Writes a recipe as AUTOMATIC1111's "infotext" (the tEXt `parameters` chunk that A1111, Forge, Civitai and
// prompt readers show). Format as produced by A1111's processing.create_infotext and read by
// infotext_utils.parse_generation_parameters: prompt line(s), an optional "Negative prompt: " line, then one
// line of "Key: value" pairs joined by ", ", a value quoted as a JSON string when it contains a comma,
// colon or newline (infotext_utils.quote).
import { isSamplerName, isScheduleName, samplerToA1111, scheduleToA1111 } from './samplerNames';
import { hexDigest, loraFile, loraName, modelName, type RecipeMetadataFields } from './recipeFields';

/** A1111's quoting rule for one parameter value. */
export function quoteInfotextValue(value: string): string {
  return /[,:\n]/.test(value) ? JSON.stringify(value) : value;
}

/** A LoRA as A1111's extra-network prompt tag, `<lora:name:weight>`. */
export function loraTag(file: string, weight: number): string {
  return `<lora:${loraName(file)}:${weight}>`;
}

/** A1111 strips these from names it writes into "Lora hashes" (they would break the key: value list). */
function cleanName(name: string): string {
  return name.replace(/[:,]/g, '');
}

/** The A1111 RNG label for our generator name: CPU for torch's CPU mt19937, NV for Philox. */
function rngLabel(rng: string): string | undefined {
  if (/philox|nv|cuda/i.test(rng)) return 'NV';
  if (/cpu|mt19937/i.test(rng)) return 'CPU';
  return undefined;
}

/** A1111 writes "Clip skip" only above 1 (processing.create_infotext). */
function clipSkip(options: RecipeMetadataFields['options']): number | undefined {
  const value = options?.clip_skip;
  return typeof value === 'number' && value > 1 ? value : undefined;
}

/** Formats the recipe as an AUTOMATIC1111 infotext. */
export function formatInfotext(recipe: RecipeMetadataFields): string {
  const loras = recipe.loras ?? [];
  const prompt = [recipe.prompt ?? '', ...loras.map((l) => loraTag(loraFile(l), l.weight))].filter((s) => s !== '').join(' ');
  const negative = recipe.negative ? `\nNegative prompt: ${recipe.negative}` : '';

  const params: [string, string | number | bigint | undefined][] = [
    ['Steps', recipe.steps],
    ['Sampler', isSamplerName(recipe.sampler) ? samplerToA1111(recipe.sampler) : recipe.sampler],
    ['Schedule type', isScheduleName(recipe.schedule) ? scheduleToA1111(recipe.schedule) : recipe.schedule],
    ['CFG scale', recipe.guidance],
    ['Seed', recipe.seed],
    ['Size', recipe.width !== undefined && recipe.height !== undefined ? `${recipe.width}x${recipe.height}` : undefined],
    ['Model hash', recipe.model?.hash ? hexDigest(recipe.model.hash).slice(0, 10) : undefined],
    ['Model', modelName(recipe.model)],
    ['Denoising strength', recipe.init?.strength],
    ['Clip skip', clipSkip(recipe.options)],
    ['RNG', recipe.rng ? rngLabel(recipe.rng) : undefined],
    [
      'Lora hashes',
      loras.some((l) => l.hash)
        ? loras.filter((l) => l.hash).map((l) => `${cleanName(loraName(loraFile(l)))}: ${hexDigest(l.hash ?? '').slice(0, 12)}`).join(', ')
        : undefined,
    ],
    ['Version', recipe.engine?.version ? `imgprompt ${recipe.engine.version}` : undefined],
  ];
  const line = params
    .filter((p): p is [string, string | number | bigint] => p[1] !== undefined && p[1] !== '')
    .map(([k, v]) => `${k}: ${quoteInfotextValue(String(v))}`)
    .join(', ');
  return `${prompt}${negative}\n${line}`.trim();
}
