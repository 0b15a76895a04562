// Reads AUTOMATIC1111's infotext (the tEXt/iTXt `parameters` chunk, also written by Forge, SD.Next, Fooocus
// and many ComfyUI save nodes). Follows the parsing rules of A1111's infotext_utils.parse_generation_parameters:
// the last line holds the parameters when at least three `Key: value` pairs match there; lines before it are
// the prompt until one starts with "Negative prompt:"; values may be JSON-quoted.
import { describeValue, parseCount, parseNumber, parseSeed, type ImageLoRA, type ImageMetadata } from './imageMetadata';
import { isMappedA1111Schedule, samplerFromA1111 } from '../output/samplerNames';

/** One `Key: value` pair of the parameter line (the key starts with a word character). */
const PARAM = /\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g;
const LORA_TAG = /[ \t]*<(?:lora|lyco):([^:>]+)(?::([^:>]*))?(?::[^>]*)?>/gi;

/** The parameter pairs of one line, values unquoted. */
export function parseInfotextParams(line: string): [string, string][] {
  return [...line.matchAll(PARAM)].map((m) => [m[1], unquote(m[2])]);
}

function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    try {
      const parsed: unknown = JSON.parse(value);
      if (typeof parsed === 'string') return parsed;
    } catch {
      // Not valid JSON: keep the text as written, as A1111 does.
    }
  }
  return value;
}

/**
 * Removes `<lora:name:weight>` tags from a prompt, returning the LoRAs and the cleaned prompt. Only lines
 * that held a tag are tidied (the separator the tag leaves behind is dropped); other lines stay verbatim.
 */
export function extractLoraTags(prompt: string): { prompt: string; loras: ImageLoRA[] } {
  const loras: ImageLoRA[] = [];
  const lines = prompt.split('\n').map((line) => {
    let found = false;
    const cleaned = line.replace(LORA_TAG, (_m, name: string, weight: string | undefined) => {
      found = true;
      loras.push({ name: name.trim(), weight: parseNumber(weight) ?? 1 });
      return '';
    });
    if (!found) return line;
    return cleaned.replace(/,(\s*,)+/g, ',').replace(/[ \t]{2,}/g, ' ').replace(/^[\s,]+/, '').trimEnd();
  });
  return { prompt: lines.join('\n').trim(), loras };
}

/** Parses an infotext into normalised metadata. */
export function parseInfotext(infotext: string): ImageMetadata {
  const lines = infotext.trim().split('\n');
  let paramLine = lines.pop() ?? '';
  if (parseInfotextParams(paramLine).length < 3) {
    lines.push(paramLine);
    paramLine = '';
  }
  const prompt: string[] = [];
  const negative: string[] = [];
  let inNegative = false;
  for (const raw of lines) {
    let line = raw.trim();
    if (line.startsWith('Negative prompt:')) {
      inNegative = true;
      line = line.slice('Negative prompt:'.length).trim();
    }
    (inNegative ? negative : prompt).push(line);
  }
  const { prompt: cleanPrompt, loras } = extractLoraTags(prompt.join('\n'));
  const meta: ImageMetadata = { source: 'automatic1111', loras, unmapped: {} };
  if (cleanPrompt) meta.prompt = cleanPrompt;
  if (negative.length) meta.negative = negative.join('\n');

  const params = new Map(parseInfotextParams(paramLine));
  const take = (key: string): string | undefined => {
    const v = params.get(key);
    params.delete(key);
    return v;
  };
  const steps = parseCount(take('Steps'));
  if (steps !== undefined) meta.steps = steps;
  const samplerLabel = take('Sampler');
  const scheduleLabel = params.get('Schedule type');
  if (samplerLabel !== undefined) {
    const choice = samplerFromA1111(samplerLabel, scheduleLabel);
    if (choice.sampler) meta.sampler = choice.sampler;
    else meta.unmapped['Sampler'] = samplerLabel;
    if (choice.schedule) meta.schedule = choice.schedule;
  }
  if (scheduleLabel !== undefined && isMappedA1111Schedule(scheduleLabel)) params.delete('Schedule type');
  const guidance = parseNumber(take('CFG scale'));
  if (guidance !== undefined) meta.guidance = guidance;
  const seed = parseSeed(take('Seed'));
  if (seed !== undefined) meta.seed = seed;
  const size = /^(\d+)x(\d+)$/.exec(params.get('Size') ?? '');
  if (size) {
    params.delete('Size');
    meta.width = Number(size[1]);
    meta.height = Number(size[2]);
  }
  const model = take('Model');
  if (model) meta.model = model;
  const modelHash = take('Model hash');
  if (modelHash) meta.modelHash = modelHash;
  const denoise = parseNumber(params.get('Denoising strength'));
  if (denoise !== undefined) {
    params.delete('Denoising strength');
    meta.denoise = denoise;
  }
  const loraHashes = params.get('Lora hashes');
  if (loraHashes !== undefined) {
    const hashes = new Map(loraHashes.split(',').map((pair) => pair.split(':').map((s) => s.trim()) as [string, string]));
    for (const lora of loras) {
      const hash = hashes.get(lora.name);
      if (hash) lora.hash = hash;
    }
    if (loras.every((l) => l.hash) && loras.length === hashes.size) params.delete('Lora hashes');
  }
  for (const [key, value] of params) meta.unmapped[key] = describeValue(value);
  return meta;
}
