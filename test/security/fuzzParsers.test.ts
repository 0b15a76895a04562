// Seeded fuzz and property tests for every parser of foreign metadata (issue 15: "a property/fuzz test with
// a time bound per input"). Inputs are the real fixtures (test/fixtures/png and, when present, the ComfyUI
// PNGs in ../shared/fixtures/comfyui), random and adversarial mutations of them, and crafted worst cases
// (long runs of separators, quotes and backslashes, deep nesting, many chunks). For each input, each parser
// must finish within 50 ms per 64 KiB of input and either return or throw its typed error (InputError;
// parseJsonLossless also SyntaxError), never another exception. Each parser prints one summary line:
// inputs tried and the worst time. Reproduce a failure from the parser name and input index in its message
// (the generators are seeded).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { InputError } from '../../src/engine/errors';
import { extractLoraTags, parseInfotext, parseInfotextParams } from '../../src/engine/interop/automatic1111';
import { parseComfyPrompt, parseComfyWorkflow } from '../../src/engine/interop/comfyui';
import type { ImageMetadata } from '../../src/engine/interop/imageMetadata';
import { parseInvokeMetadata } from '../../src/engine/interop/invokeai';
import { parseJsonLossless } from '../../src/engine/interop/parseJsonLossless';
import { readImageMetadata } from '../../src/engine/interop/readImageMetadata';
import { sceneFromMetadata } from '../../src/engine/interop/sceneFromMetadata';
import { parsePngChunks, type PngChunk } from '../../src/engine/output/pngChunks';
import { encodeTextChunk, readPngText } from '../../src/engine/output/pngText';
import { buildXmpPacket, readXmpProvenance } from '../../src/engine/output/xmpPacket';
import { generator, pngWith, tEXt } from './securityHelpers';

const KiB64 = 64 * 1024;
/** The time bound: 50 ms per input of up to 64 KiB, and proportionally more for larger ones. */
const BOUND_MS_PER_64KiB = 50;
/** Random and adversarial mutations tried per parser, besides the fixtures and the crafted cases. */
const MUTANTS = 600;

const PNGS = fileURLToPath(new URL('../fixtures/png/', import.meta.url));
const COMFY = fileURLToPath(new URL('../../../shared/fixtures/comfyui/', import.meta.url));

// 1. Seeds: the real fixtures' bytes and text chunks.

function fixturePngs(): { name: string; bytes: Buffer }[] {
  const files = readdirSync(PNGS)
    .filter((n) => n.endsWith('.png'))
    .map((n) => ({ name: n, bytes: readFileSync(join(PNGS, n)) }));
  if (existsSync(COMFY)) {
    for (const n of readdirSync(COMFY).filter((f) => f.endsWith('.png')).sort()) files.push({ name: `comfyui/${n}`, bytes: readFileSync(join(COMFY, n)) });
  }
  return files;
}

const PNG_FIXTURES = fixturePngs();

/** The texts of every fixture's text chunks, by keyword. */
function fixtureTexts(keyword: string): string[] {
  const texts: string[] = [];
  for (const { bytes } of PNG_FIXTURES) {
    try {
      for (const t of readPngText(parsePngChunks(bytes))) if (t.keyword === keyword) texts.push(t.text);
    } catch {
      // not-a-png.png
    }
  }
  return texts;
}

/** A small ComfyUI API graph, so the ComfyUI fuzz has a seed even without the shared fixtures. */
const SYNTHETIC_PROMPT = JSON.stringify({
  '3': { class_type: 'KSampler', inputs: { seed: 156680208700286, steps: 20, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] } },
  '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' } },
  '5': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
  '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a fox, <lora:x:0.5>', clip: ['4', 1] } },
  '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
  '10': { class_type: 'LoraLoader', inputs: { lora_name: 'a.safetensors', strength_model: 0.7, strength_clip: 1, model: ['4', 0], clip: ['4', 1] } },
  '11': { class_type: 'ControlNetApplyAdvanced', inputs: { positive: ['6', 0], negative: ['7', 0], control_net: ['12', 0], image: ['13', 0], strength: 1 } },
  '12': { class_type: 'ControlNetLoader', inputs: { control_net_name: 'canny.safetensors' } },
  '13': { class_type: 'LoadImage', inputs: { image: 'hint.png' } },
});
const SYNTHETIC_WORKFLOW = JSON.stringify({
  nodes: [
    { id: 3, type: 'KSampler', widgets_values: [5, 'fixed', 20, 7, 'euler', 'normal', 1], inputs: [{ name: 'positive', link: 1 }, { name: 'model', link: 2 }] },
    { id: 4, type: 'CheckpointLoaderSimple', widgets_values: ['m.safetensors'] },
    { id: 6, type: 'CLIPTextEncode', widgets_values: ['a fox'] },
  ],
  links: [
    [1, 6, 0, 3, 1, 'CONDITIONING'],
    [2, 4, 0, 3, 0, 'MODEL'],
  ],
});
const SYNTHETIC_INFOTEXT =
  'a lighthouse, (storm:1.2) <lora:waves:0.7>, <LYCO:grain:1:0.5>\nNegative prompt: blurry\nSteps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 3141592653, ' +
  'Size: 768x512, Model: v1-5, Lora hashes: "waves: 0123, grain: 4567", Note: "say \\"hi\\", then: go", Denoising strength: 0.45';
const XMP = buildXmpPacket({ prompt: 'a <fox> & "hound"', creatorTool: 'imgprompt 0.1.0', purpose: 'figure 1' });

// 2. Mutations, all driven by one seeded generator.

/** Pieces that are syntax somewhere: separators, quotes, escapes, tag and entity openers, controls. */
const PIECES = [
  '"', "'", '\\', ',', ':', ' ', '\t', '\n', '\r', '-', '/', '<', '>', '&', ';', '=', '{', '}', '[', ']', '0', '9', 'e', '-1', '1e999',
  '<lora:', '<lyco:', 'Steps: ', 'Negative prompt:', '\\"', '\\u0000', '\\ud800', '&#x110000;', '&#99999999999;', '<rdf:li>', '</rdf:li>',
  '<dc:description>', '</dc:description>', 'x:CreatorTool="', '"__proto__"', '"constructor"', '["1",0]', '["3",0]', '99999999999999999999999',
  '\x1b[2J', '\x00', '\u2028', '\ufeff', 'é',
];

type Random = (n: number) => number;

function pick<T>(random: Random, items: readonly T[]): T {
  return items[random(items.length)];
}

/** One random or adversarial change to a text; the result is kept under 64 KiB. */
function mutateText(random: Random, text: string, others: readonly string[]): string {
  const at = random(text.length + 1);
  let out: string;
  switch (random(8)) {
    case 0: // replace a character
      out = text.slice(0, at) + String.fromCharCode(random(0x80) || 0xe9) + text.slice(at + 1);
      break;
    case 1: // insert a syntax piece
    case 2:
      out = text.slice(0, at) + pick(random, PIECES) + text.slice(at);
      break;
    case 3: // delete a span
      out = text.slice(0, at) + text.slice(at + 1 + random(64));
      break;
    case 4: // truncate
      out = text.slice(0, at);
      break;
    case 5: {
      // repeat a short span many times (long runs of separators, quotes, tags)
      const span = text.slice(at, at + 1 + random(12)) || pick(random, PIECES);
      out = text.slice(0, at) + span.repeat(1 + random(Math.floor(KiB64 / 2 / span.length))) + text.slice(at);
      break;
    }
    case 6: // splice with another seed
      out = text.slice(0, at) + pick(random, others).slice(random(4096));
      break;
    default: {
      // nest: wrap a span in many brackets
      const depth = 1 + random(400);
      out = text.slice(0, at) + '['.repeat(depth) + text.slice(at, at + random(32)) + ']'.repeat(random(2) ? depth : 0) + text.slice(at);
    }
  }
  return out.length > KiB64 ? out.slice(0, KiB64) : out;
}

/** Crafted worst cases for text parsers: 64 KiB runs of each piece, alone and after a valid prefix. */
function craftedTexts(prefix: string): string[] {
  const texts: string[] = [];
  for (const piece of [...PIECES, 'a ', 'a-', ' a', '"\\,', ': "', '<a:description', '<a:description>', ', ,']) {
    const run = piece.repeat(Math.max(1, Math.floor((KiB64 - prefix.length) / piece.length)));
    texts.push(run, prefix + run, `${prefix}\n${run}`);
  }
  texts.push(`${'['.repeat(KiB64 / 2)}${']'.repeat(KiB64 / 2)}`, '{"a":'.repeat(KiB64 / 5), `[${'0,'.repeat(KiB64 / 2 - 1)}0]`);
  return texts;
}

// 3. The harness: bound, typed errors, summary.

interface Stats {
  inputs: number;
  worstMs: number;
  worstBytes: number;
}

const summaries: string[] = [];

function boundMs(bytes: number): number {
  return BOUND_MS_PER_64KiB * Math.max(1, bytes / KiB64);
}

/**
 * Runs `parse` on each input; asserts each finishes within the bound (an input over it is re-run up to four
 * more times and the fastest kept, so a compilation or GC pause does not fail the test) and throws nothing
 * but a typed error. Returns the count and worst time.
 */
function fuzz<T>(name: string, inputs: Iterable<T>, size: (input: T) => number, parse: (input: T) => void, typed: (e: unknown) => boolean): Stats {
  const stats: Stats = { inputs: 0, worstMs: 0, worstBytes: 0 };
  for (const input of inputs) {
    const index = stats.inputs++;
    const bytes = size(input);
    const bound = boundMs(bytes);
    let best = Infinity;
    for (let run = 0; run < 5 && best > bound; run++) {
      const start = performance.now();
      try {
        parse(input);
      } catch (error) {
        if (!typed(error)) assert.fail(`${name}, input ${index} (${bytes} bytes): untyped ${error instanceof Error ? error.stack : String(error)}`);
      }
      best = Math.min(best, performance.now() - start);
    }
    assert.ok(best <= bound, `${name}, input ${index} (${bytes} bytes): ${best.toFixed(1)} ms, over the ${bound.toFixed(0)} ms bound`);
    if (best > stats.worstMs) {
      stats.worstMs = best;
      stats.worstBytes = bytes;
    }
  }
  const line = `fuzz ${name}: ${stats.inputs} inputs, worst ${stats.worstMs.toFixed(2)} ms (${stats.worstBytes} bytes); bound ${BOUND_MS_PER_64KiB} ms per 64 KiB`;
  summaries.push(line);
  console.log(line);
  return stats;
}

/** The seeds, then MUTANTS mutations (each of a seed or of an earlier mutant), then the crafted cases. */
function* textInputs(seed: number, seeds: readonly string[], crafted: readonly string[]): Generator<string> {
  const random = generator(seed);
  const pool = [...seeds];
  yield* seeds;
  for (let i = 0; i < MUTANTS; i++) {
    let text = pick(random, pool);
    for (let k = 1 + random(3); k > 0; k--) text = mutateText(random, text, seeds);
    if (pool.length < 64) pool.push(text);
    else pool[random(pool.length)] = text;
    yield text;
  }
  yield* crafted;
}

const isInputError = (e: unknown): boolean => e instanceof InputError;
const chars = (s: string): number => s.length;

/** Every parsed metadata also goes through the scene writer (import), which must never throw. */
function alsoImport(meta: ImageMetadata | undefined): void {
  if (meta) sceneFromMetadata(meta, { sourceFile: 'fuzz.png', sceneDir: '/tmp' });
}

after(() => {
  const inputs = summaries.reduce((n, line) => n + Number(/: (\d+) inputs/.exec(line)?.[1] ?? 0), 0);
  if (summaries.length) console.log(`fuzz total: ${inputs} inputs over ${summaries.length} parsers, every one within its bound`);
});

describe('fuzz: each parser of foreign metadata is bounded and throws only its typed error', () => {
  const infotexts = [SYNTHETIC_INFOTEXT, ...fixtureTexts('parameters')];
  const prompts = [SYNTHETIC_PROMPT, ...fixtureTexts('prompt')];
  const workflows = [SYNTHETIC_WORKFLOW, ...fixtureTexts('workflow')];
  const invokes = fixtureTexts('invokeai_metadata');
  const recipes = fixtureTexts('imgprompt');
  const jsons = [...prompts, ...workflows, ...invokes, ...recipes];

  test('AUTOMATIC1111 infotext (parseInfotext, then sceneFromMetadata)', () => {
    fuzz('parseInfotext', textInputs(11, infotexts, craftedTexts(SYNTHETIC_INFOTEXT.slice(0, 80))), chars, (t) => alsoImport(parseInfotext(t)), isInputError);
  });

  test('ComfyUI prompt graph (parseComfyPrompt, then sceneFromMetadata)', () => {
    fuzz('parseComfyPrompt', textInputs(12, prompts, [...craftedTexts('{"3":{"class_type":"KSampler","inputs":'), ...comfyWorstCases()]), chars, (t) => alsoImport(parseComfyPrompt(t)), isInputError);
  });

  test('ComfyUI prompt graphs rewired at random (cycles, self-links, prototype names, dangling links)', () => {
    fuzz('ComfyUI rewired graph', rewiredGraphs(13, prompts), chars, (t) => alsoImport(parseComfyPrompt(t)), isInputError);
  });

  test('ComfyUI workflow (parseComfyWorkflow)', () => {
    fuzz('parseComfyWorkflow', textInputs(14, workflows, craftedTexts('{"nodes":[{"id":3,"type":"KSampler","widgets_values":')), chars, (t) => alsoImport(parseComfyWorkflow(t)), isInputError);
  });

  test('InvokeAI metadata (parseInvokeMetadata)', () => {
    fuzz('parseInvokeMetadata', textInputs(15, [...invokes, ...recipes], craftedTexts('{"positive_prompt":')), chars, (t) => alsoImport(parseInvokeMetadata(t)), isInputError);
  });

  test('lossless JSON (parseJsonLossless) agrees with JSON.parse wherever JSON.parse succeeds', () => {
    const agree = (text: string): void => {
      let expected: unknown;
      try {
        expected = JSON.parse(text);
      } catch {
        assert.throws(() => parseJsonLossless(text), (e: unknown) => e instanceof SyntaxError || e instanceof InputError);
        return;
      }
      let actual: unknown;
      try {
        actual = parseJsonLossless(text);
      } catch (error) {
        assert.ok(error instanceof InputError, `JSON.parse accepted what parseJsonLossless refused: ${String(error)}`);
        return;
      }
      // Integers beyond 2^53 are bigints here; rounded, they are what JSON.parse gives.
      const rounded = JSON.stringify(actual, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
      assert.equal(rounded, JSON.stringify(expected));
    };
    fuzz('parseJsonLossless', textInputs(16, jsons.length ? jsons : [SYNTHETIC_PROMPT], craftedTexts('{"a":')), chars, agree, (e) => e instanceof InputError || e instanceof SyntaxError);
  });

  test('XMP packet (readXmpProvenance)', () => {
    fuzz('readXmpProvenance', textInputs(17, [XMP, ...fixtureTexts('XML:com.adobe.xmp')], craftedTexts(XMP.slice(0, 200))), chars, (t) => readXmpProvenance(t), isInputError);
  });

  test('PNG chunks and text chunks (readImageMetadata on whole files)', () => {
    fuzz('readImageMetadata', pngInputs(18), (b) => b.length, (b) => alsoImport(readImageMetadata(b, 'fuzz.png').metadata), isInputError);
  });
});

describe('property: the linear A1111 scanners find exactly what the regular expressions of A1111 find', () => {
  // A1111's own patterns (modules/infotext_utils.py re_param; the LoRA tag pattern of extra networks), run
  // here only on short lines, where backtracking is harmless, as the reference.
  const RE_PARAM = /\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g;
  const LORA_TAG = /[ \t]*<(?:lora|lyco):([^:>]+)(?::([^:>]*))?(?::[^>]*)?>/gi;
  const unquote = (value: string): string => {
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      try {
        const parsed: unknown = JSON.parse(value);
        if (typeof parsed === 'string') return parsed;
      } catch {
        // kept as written
      }
    }
    return value;
  };
  const LINE_PIECES = ['a', 'Steps', 'CFG scale', ' ', '  ', ':', ': ', ',', ', ', '"', '\\', '\\"', '-', '/', '_', '\t', '\r', '\u00a0', '\u2028', '1.5', 'x:1', '<', '>', '<lora:', '<LoRa:', '<lyco:', ':0.5>', 'é'];
  const randomLine = (random: Random): string => {
    let line = '';
    for (let n = random(24); n > 0; n--) line += pick(random, LINE_PIECES);
    return line;
  };

  test('parameter pairs: 20 000 random lines', () => {
    const random = generator(21);
    for (let i = 0; i < 20_000; i++) {
      const line = randomLine(random);
      const expected = [...line.matchAll(RE_PARAM)].map((m) => [m[1], unquote(m[2])]);
      assert.deepEqual(parseInfotextParams(line), expected, JSON.stringify(line));
    }
  });

  test('LoRA tags: 20 000 random prompts', () => {
    const random = generator(22);
    for (let i = 0; i < 20_000; i++) {
      const prompt = `${randomLine(random)}\n${randomLine(random)}`;
      const loras: { name: string; weight: number }[] = [];
      const lines = prompt.split('\n').map((line) => {
        let found = false;
        const cleaned = line.replace(LORA_TAG, (_m, name: string, weight: string | undefined) => {
          found = true;
          const w = weight !== undefined && weight.trim() !== '' ? Number(weight) : NaN;
          loras.push({ name: name.trim(), weight: Number.isFinite(w) ? w : 1 });
          return '';
        });
        if (!found) return line;
        return cleaned.replace(/,(\s*,)+/g, ',').replace(/[ \t]{2,}/g, ' ').replace(/^[\s,]+/, '').trimEnd();
      });
      assert.deepEqual(extractLoraTags(prompt), { prompt: lines.join('\n').trim(), loras }, JSON.stringify(prompt));
    }
  });
});

// 4. Structured inputs: rewired ComfyUI graphs and PNG files.

/** ComfyUI worst cases: a long chain, a long cycle, many samplers, many notes, wide objects. */
function comfyWorstCases(): string[] {
  const chain: Record<string, unknown> = { '0': { class_type: 'KSampler', inputs: { positive: ['1', 0], model: ['1', 0], latent_image: ['1', 0] } } };
  for (let i = 1; i < 1000; i++) chain[i] = { class_type: 'ConditioningSetArea', inputs: { conditioning: [String(i + 1), 0], model: [String(i + 1), 0], samples: [String(i + 1), 0] } };
  const cycle = { ...chain, '1000': { class_type: 'LoraLoader', inputs: { conditioning: ['1', 0], model: ['1', 0], samples: ['1', 0] } } };
  const samplers: Record<string, unknown> = {};
  for (let i = 0; i < 1400; i++) samplers[i] = { class_type: 'KSampler', inputs: {} };
  const combines: Record<string, unknown> = { '0': { class_type: 'KSampler', inputs: { positive: ['1', 0] } } };
  for (let i = 1; i < 900; i++) combines[i] = { class_type: 'ConditioningCombine', inputs: { conditioning_1: [String(i + 1), 0], conditioning_2: ['0', 0] } };
  return [chain, cycle, samplers, combines].map((g) => JSON.stringify(g));
}

/** Real and synthetic graphs with links rewired at random, including to ids that are prototype members. */
function* rewiredGraphs(seed: number, prompts: readonly string[]): Generator<string> {
  const random = generator(seed);
  const graphs = prompts.map((p) => JSON.parse(p) as Record<string, { class_type: string; inputs: Record<string, unknown> }>);
  const strange = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '-1', '1e3', ''];
  for (let i = 0; i < MUTANTS; i++) {
    const graph = structuredClone(pick(random, graphs));
    const ids = [...Object.keys(graph), ...strange];
    for (const node of Object.values(graph)) {
      if (!node || typeof node !== 'object' || !node.inputs || typeof node.inputs !== 'object') continue;
      for (const key of Object.keys(node.inputs)) {
        if (random(3) === 0) node.inputs[key] = [pick(random, ids), random(3)];
      }
    }
    if (random(4) === 0) graph[pick(random, strange)] = { class_type: 'KSampler', inputs: { positive: [pick(random, ids), 0], model: [pick(random, ids), 0] } };
    yield JSON.stringify(graph);
  }
}

/** PNG fuzz inputs: the fixture files, byte-level mutants, chunk-level mutants with valid CRCs, and bombs. */
function* pngInputs(seed: number): Generator<Buffer> {
  const random = generator(seed);
  // The text chunks of every fixture, on a 1x1 image (the big fixtures' pixels teach the parsers nothing).
  const textSets: PngChunk[][] = [];
  for (const { bytes } of PNG_FIXTURES) {
    yield bytes;
    try {
      textSets.push(parsePngChunks(bytes).filter((c) => c.type === 'tEXt' || c.type === 'zTXt' || c.type === 'iTXt'));
    } catch {
      // not-a-png.png
    }
  }
  const small = textSets.map((chunks) => pngWith(chunks));
  for (let i = 0; i < MUTANTS; i++) {
    if (random(2) === 0) {
      // Byte-level: flip, drop or duplicate bytes anywhere (most end as InputError: CRC, length, type).
      const bytes = Buffer.from(pick(random, small));
      for (let k = 1 + random(4); k > 0; k--) bytes[random(bytes.length)] = random(256);
      yield random(4) === 0 ? bytes.subarray(0, random(bytes.length)) : bytes;
      continue;
    }
    // Chunk-level: mutate the text of one chunk, keep CRCs valid, so the metadata parsers see it.
    const chunks = [...pick(random, textSets)];
    const keyword = pick(random, ['parameters', 'prompt', 'workflow', 'invokeai_metadata', 'imgprompt', 'XML:com.adobe.xmp', 'Comment']);
    const seedText = pick(random, [SYNTHETIC_INFOTEXT, SYNTHETIC_PROMPT, SYNTHETIC_WORKFLOW, XMP]);
    let text = seedText;
    for (let k = 1 + random(3); k > 0; k--) text = mutateText(random, text, [SYNTHETIC_INFOTEXT, SYNTHETIC_PROMPT, XMP]);
    const compressed = random(3) === 0;
    chunks.push(encodeTextChunk({ keyword, text, chunkType: 'iTXt', compressed }));
    if (random(5) === 0) chunks.push(...Array.from({ length: random(2000) }, (_, j) => tEXt(`k${j}`, 'x')));
    yield pngWith(chunks);
  }
  // Crafted: a compressed bomb per chunk under the old per-chunk cap, many text chunks, many empty chunks.
  const megabyte = deflateSync(Buffer.alloc(1024 * 1024, 0x20), { level: 9 });
  const zTXt: PngChunk = { type: 'zTXt', data: Buffer.concat([Buffer.from('bomb\0\0', 'latin1'), megabyte]) };
  yield pngWith(Array.from({ length: 40 }, () => zTXt));
  yield pngWith(Array.from({ length: 3000 }, (_, j) => tEXt(`k${j}`, 'x')));
  const filler: PngChunk = { type: 'ruSt', data: Buffer.alloc(0) };
  yield Buffer.concat([pngWith([]).subarray(0, 33), ...Array.from({ length: 5400 }, () => encodeOne(filler)), pngWith([]).subarray(33)]);
  yield pngWith([]).subarray(0, 20);
}

/** One chunk's bytes (length, type, data, CRC), via the encoder on a one-chunk list. */
function encodeOne(chunk: PngChunk): Buffer {
  const png = pngWith([chunk]);
  const start = 33;
  return png.subarray(start, start + 12 + chunk.data.length);
}
