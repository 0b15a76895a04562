// Reads AUTOMATIC1111's infotext (the tEXt/iTXt `parameters` chunk, also written by Forge, SD.Next, Fooocus
// and many ComfyUI save nodes). Follows the parsing rules of A1111's infotext_utils.parse_generation_parameters:
// the last line holds the parameters when at least three `Key: value` pairs match there; lines before it are
// the prompt until one starts with "Negative prompt:"; values may be JSON-quoted. Linear in the text's length.
import { describeValue, parseCount, parseNumber, parseSeed, type ImageLoRA, type ImageMetadata } from './imageMetadata';
import { checkTextLength, METADATA_LIMITS } from './metadataLimits';
import { isMappedA1111Schedule, samplerFromA1111 } from '../output/samplerNames';
import { isTuningValue, tuningOption } from '../scene/sceneOptions';

// A1111 reads the parameter line with the regular expression
//   \s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)
// and LoRA tags with <(?:lora|lyco):name(:weight)?(:rest)?>. Run by a backtracking engine, both take time
// quadratic in the length of a line (a line of words with no colon, a run of spaces before a "<"), so a
// few KiB of crafted infotext cost seconds. The scanners below find exactly the same matches in one pass,
// with tables of "where the next X is" built once per line.

function isWordChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;
}

/** `[\w \-/]`, the characters of a parameter name after its first. */
function isKeyChar(c: number): boolean {
  return isWordChar(c) || c === 0x20 || c === 0x2d || c === 0x2f;
}

/** JavaScript's `\s`. */
function isSpace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
  );
}

/** The characters `.` does not match (line terminators). */
function isLineTerminator(c: number): boolean {
  return c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029;
}

/** For each index i (and the end), the first index ≥ i whose character is a `stop` (the length if none). */
function nextWhere(text: string, stop: (c: number) => boolean): Int32Array {
  const next = new Int32Array(text.length + 1);
  next[text.length] = text.length;
  for (let i = text.length - 1; i >= 0; i--) next[i] = stop(text.charCodeAt(i)) ? i : next[i + 1];
  return next;
}

/**
 * `skip(i)`: the first index ≥ i whose character fails `keep` (the length if none). Asked with indexes that
 * never go down, it reads each character at most once: the last run found answers every index inside it.
 */
function runSkipper(text: string, keep: (c: number) => boolean): (i: number) => number {
  let from = 0;
  let end = -1;
  return (i) => {
    if (i >= from && i <= end) return end;
    let j = i;
    while (j < text.length && keep(text.charCodeAt(j))) j++;
    from = i;
    end = j;
    return j;
  };
}

/**
 * For each index j, where `(?:\\.|[^\\"])*"` started at j finds its closing quote (−1 if it never
 * does). The scan from j is deterministic, so one pass from the end answers every start.
 */
function closingQuotes(text: string): Int32Array {
  const n = text.length;
  const close = new Int32Array(n + 2).fill(-1);
  for (let j = n - 1; j >= 0; j--) {
    const c = text.charCodeAt(j);
    if (c === 0x22) close[j] = j;
    else if (c === 0x5c) close[j] = j + 1 < n && !isLineTerminator(text.charCodeAt(j + 1)) ? close[j + 2] : -1;
    else close[j] = close[j + 1];
  }
  return close;
}

/** The parameter pairs of one line, values unquoted (the matches of A1111's re_param, in linear time). */
export function parseInfotextParams(line: string): [string, string][] {
  const n = line.length;
  const pairs: [string, string][] = [];
  const afterSpaces = runSkipper(line, isSpace);
  const afterKey = runSkipper(line, isKeyChar);
  let close: Int32Array | undefined;
  let p = 0;
  while (p < n) {
    // The leftmost start q ≥ p: skip spaces to r, a word character, then one or more name characters up to a colon.
    let key: [number, number] | undefined;
    for (let q = p; q < n && !key; q++) {
      const r = afterSpaces(q);
      if (r + 2 >= n || !isWordChar(line.charCodeAt(r))) continue;
      const colon = afterKey(r + 1);
      if (colon >= r + 2 && colon < n && line.charCodeAt(colon) === 0x3a) key = [r, colon];
    }
    if (!key) break;
    const v = afterSpaces(key[1] + 1);
    let value: string | undefined;
    if (v < n && line.charCodeAt(v) === 0x22) {
      close ??= closingQuotes(line);
      const end = close[v + 1];
      if (end > v + 1 && (end + 1 === n || line.charCodeAt(end + 1) === 0x2c)) {
        value = line.slice(v, end + 1);
        p = end + 2;
      }
    }
    if (value === undefined) {
      const comma = line.indexOf(',', v);
      value = line.slice(v, comma < 0 ? n : comma);
      p = comma < 0 ? n : comma + 1;
    }
    pairs.push([line.slice(key[0], key[1]), unquote(value)]);
  }
  return pairs;
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

/** True when `text` has `word` (lowercase ASCII letters) at `at`, in any ASCII case. */
function hasWordAt(text: string, at: number, word: string): boolean {
  for (let i = 0; i < word.length; i++) {
    const c = text.charCodeAt(at + i);
    if (c !== word.charCodeAt(i) && c !== word.charCodeAt(i) - 0x20) return false;
  }
  return true;
}

interface LoraTag {
  /** Where the match starts (the spaces and tabs before the tag) and ends (after its ">"). */
  start: number;
  end: number;
  name: string;
  weight?: string;
}

/**
 * The matches of `[ \t]*<(?:lora|lyco):([^:>]+)(?::([^:>]*))?(?::[^>]*)?>` (case-insensitive) in one line,
 * left to right, in linear time.
 */
function findLoraTags(line: string): LoraTag[] {
  const n = line.length;
  const tags: LoraTag[] = [];
  const afterName = nextWhere(line, (c) => c === 0x3a || c === 0x3e);
  const nextGt = nextWhere(line, (c) => c === 0x3e);
  let p = 0;
  for (let t = line.indexOf('<', p); t >= 0; t = line.indexOf('<', t + 1)) {
    if (t + 6 > n || line.charCodeAt(t + 5) !== 0x3a || !(hasWordAt(line, t + 1, 'lora') || hasWordAt(line, t + 1, 'lyco'))) continue;
    const e = afterName[t + 6];
    if (e === t + 6 || e === n) continue;
    let end: number;
    let weight: string | undefined;
    if (line.charCodeAt(e) === 0x3e) {
      end = e + 1;
    } else {
      const f = afterName[e + 1];
      if (f < n && line.charCodeAt(f) === 0x3e) end = f + 1;
      else if (f < n && nextGt[f] < n) end = nextGt[f] + 1;
      else continue;
      weight = line.slice(e + 1, f);
    }
    let start = t;
    while (start > p && (line.charCodeAt(start - 1) === 0x20 || line.charCodeAt(start - 1) === 0x09)) start--;
    tags.push({ start, end, name: line.slice(t + 6, e), weight });
    p = end;
    t = end - 1;
  }
  return tags;
}

/**
 * Removes `<lora:name:weight>` tags from a prompt, returning the LoRAs and the cleaned prompt. Only lines
 * that held a tag are tidied (the separator the tag leaves behind is dropped); other lines stay verbatim.
 */
export function extractLoraTags(prompt: string): { prompt: string; loras: ImageLoRA[] } {
  const loras: ImageLoRA[] = [];
  const lines = prompt.split('\n').map((line) => {
    const tags = findLoraTags(line);
    if (!tags.length) return line;
    let cleaned = '';
    let at = 0;
    for (const tag of tags) {
      loras.push({ name: tag.name.trim(), weight: parseNumber(tag.weight) ?? 1 });
      cleaned += line.slice(at, tag.start);
      at = tag.end;
    }
    cleaned += line.slice(at);
    return cleaned.replace(/,(\s*,)+/g, ',').replace(/[ \t]{2,}/g, ' ').replace(/^[\s,]+/, '').trimEnd();
  });
  return { prompt: lines.join('\n').trim(), loras };
}

/** Parses an infotext into normalised metadata. InputError when it is longer than METADATA_LIMITS.infotextChars. */
export function parseInfotext(infotext: string): ImageMetadata {
  checkTextLength(infotext, METADATA_LIMITS.infotextChars, 'AUTOMATIC1111 infotext');
  const lines = infotext.trim().split('\n');
  const paramLine = lines.pop() ?? '';
  let pairs = parseInfotextParams(paramLine);
  if (pairs.length < 3) {
    lines.push(paramLine);
    pairs = [];
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

  const params = new Map(pairs);
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
  // "Clip skip: 2" is the clip_skip option; a value the option does not accept stays unmapped.
  const clipSkip = parseNumber(params.get('Clip skip'));
  const clipSkipOption = tuningOption('clip_skip');
  if (clipSkip !== undefined && clipSkipOption && isTuningValue(clipSkipOption, clipSkip)) {
    params.delete('Clip skip');
    if (clipSkip !== clipSkipOption.default) meta.options = { ...meta.options, clip_skip: clipSkip };
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
