// Issue 15, defect 6 (and the cyclic graph of 13): a few kilobytes of crafted text in a PNG chunk must not
// cost seconds of CPU in any metadata parser. Each input here took 0.2 to 5 s (or crashed) before the
// parsers became linear; the bound is 50 ms per 64 KiB input.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../src/engine/errors';
import { parseInfotext } from '../../src/engine/interop/automatic1111';
import { metadataFromComfyGraph, parseComfyPrompt, parseComfyWorkflow, type ComfyGraph } from '../../src/engine/interop/comfyui';
import { parseInvokeMetadata } from '../../src/engine/interop/invokeai';
import { parseJsonLossless } from '../../src/engine/interop/parseJsonLossless';
import { readImageMetadata } from '../../src/engine/interop/readImageMetadata';
import { readXmpProvenance } from '../../src/engine/output/xmpPacket';
import { pngWith, tEXt, thrown, timeMs } from './securityHelpers';

const BOUND_MS = 50;
const KiB64 = 64 * 1024;

/** Repeats `unit` to fill about 64 KiB after `prefix`. */
function fill(prefix: string, unit: string, suffix = ''): string {
  return prefix + unit.repeat(Math.floor((KiB64 - prefix.length - suffix.length) / unit.length)) + suffix;
}

function assertFast(name: string, run: () => void): void {
  const ms = timeMs(run, BOUND_MS);
  assert.ok(ms < BOUND_MS, `${name}: ${ms.toFixed(1)} ms (bound ${BOUND_MS} ms)`);
}

describe('AUTOMATIC1111 infotext: linear time', () => {
  const crafted: [string, string][] = [
    ['a parameter line of words and no colon', fill('p\n', 'a ')],
    ['a parameter line of hyphenated words and no colon', fill('p\n', 'a-')],
    ['a parameter line of spaces', fill('p\n', ' ', 'x')],
    ['spaces before a "<" that opens no LoRA tag', fill('x', ' ', '<')],
    ['tabs before a "<" that opens no LoRA tag', fill('x', '\t', '<')],
    ['unclosed LoRA tags', fill('', '<lora:a:b:')],
    ['unclosed quoted values', fill('p\nSteps: 1, Seed: 2, A: ', '"\\,')],
  ];
  for (const [name, text] of crafted) {
    test(`${name} (64 KiB) parses in under ${BOUND_MS} ms`, () => assertFast(name, () => parseInfotext(text)));
  }

  test('a million-digit Seed is not a seed, and costs no quadratic BigInt parse', () => {
    const text = `p\nSteps: 1, Seed: ${'9'.repeat(1_000_000)}, CFG scale: 3`;
    let seed: unknown = 'unset';
    const ms = timeMs(() => {
      seed = parseInfotext(text).seed;
    }, BOUND_MS);
    assert.equal(seed, undefined);
    assert.ok(ms < BOUND_MS, `${ms.toFixed(1)} ms`);
  });
});

describe('ComfyUI graph reader: linear time, cycles detected', () => {
  test(`a 64 KiB prompt of 1400 sampler nodes reads in under ${BOUND_MS} ms`, () => {
    const graph: Record<string, unknown> = {};
    for (let i = 0; i < 1400; i++) graph[i] = { class_type: 'KSampler', inputs: {} };
    const text = JSON.stringify(graph);
    assert.ok(text.length <= KiB64);
    assertFast('1400 samplers', () => parseComfyPrompt(text));
  });

  test('a cyclic conditioning chain is an InputError naming the nodes of the cycle', () => {
    const graph: ComfyGraph = {
      '3': { class_type: 'KSampler', inputs: { positive: ['4', 0], negative: ['6', 0], seed: 1 } },
      '4': { class_type: 'ConditioningCombine', inputs: { conditioning_1: ['5', 0] } },
      '5': { class_type: 'ConditioningSetArea', inputs: { conditioning: ['4', 0] } },
      '6': { class_type: 'CLIPTextEncode', inputs: { text: 'neg' } },
    };
    const error = thrown(() => metadataFromComfyGraph(graph));
    assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
    assert.match(error.message, /cycle/);
    assert.match(error.message, /node 4 \(ConditioningCombine\) → node 5 \(ConditioningSetArea\) → node 4/);
  });

  test('a cyclic model chain (LoRA loaders feeding each other) is an InputError', () => {
    const graph: ComfyGraph = {
      '1': { class_type: 'KSampler', inputs: { model: ['2', 0] } },
      '2': { class_type: 'LoraLoader', inputs: { lora_name: 'a', model: ['3', 0] } },
      '3': { class_type: 'LoraLoader', inputs: { lora_name: 'b', model: ['2', 0] } },
    };
    const error = thrown(() => metadataFromComfyGraph(graph));
    assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
    assert.match(error.message, /cycle.*node 2 \(LoraLoader\) → node 3 \(LoraLoader\) → node 2/);
  });

  test('a cyclic graph in a PNG becomes a warning naming the chunk, not a hang or a crash', () => {
    const prompt = JSON.stringify({
      '1': { class_type: 'KSampler', inputs: { latent_image: ['2', 0] } },
      '2': { class_type: 'LatentUpscale', inputs: { samples: ['2', 0] } },
    });
    const report = readImageMetadata(pngWith([tEXt('prompt', prompt)]), 'cycle.png');
    assert.equal(report.metadata, undefined);
    assert.equal(report.warnings.length, 1);
    assert.match(report.warnings[0], /^cycle\.png: text chunk 'prompt': .*cycle.*node 2 \(LatentUpscale\) → node 2/);
  });

  test('a node id that names an Object.prototype member is not followed into the prototype', () => {
    for (const id of ['constructor', '__proto__', 'toString']) {
      const text = JSON.stringify({ '1': { class_type: 'KSampler', inputs: { positive: [id, 0], model: [id, 0], latent_image: [id, 0] } } });
      const meta = parseComfyPrompt(text);
      assert.equal(meta?.source, 'comfyui', id);
    }
    const proto = '{"__proto__":{"class_type":"KSampler","inputs":{"positive":["class_type",0]}},"1":{"class_type":"KSampler","inputs":{"latent_image":["class_type",0]}}}';
    assert.equal(parseComfyPrompt(proto)?.source, 'comfyui');
  });

  test('a workflow with more nodes than the cap is an InputError that states the cap', () => {
    const nodes = Array.from({ length: 20_001 }, (_, i) => ({ id: i, type: 'Note' }));
    const error = thrown(() => parseComfyWorkflow(JSON.stringify({ nodes, links: [] })));
    assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
    assert.match(error.message, /20001 nodes.*at most \d+/);
  });
});

describe('JSON (ComfyUI, InvokeAI, our recipe): depth capped, no stack overflow', () => {
  test('nesting deeper than the cap is an InputError that gives the depth and the offset', () => {
    const text = `{"a":${'['.repeat(30_000)}${']'.repeat(30_000)}}`;
    const error = thrown(() => parseJsonLossless(text));
    assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
    assert.match(error.message, /JSON nested deeper than \d+ levels at offset \d+/);
  });

  test('deep nesting in an InvokeAI chunk is reported, not thrown as a RangeError', () => {
    const text = `{"a":${'['.repeat(30_000)}${']'.repeat(30_000)}}`;
    const error = thrown(() => parseInvokeMetadata(text));
    assert.ok(error === undefined || error instanceof InputError, String(error));
    const report = readImageMetadata(pngWith([tEXt('invokeai_metadata', text), tEXt('imgprompt', text)]), 'deep.png');
    assert.equal(report.sources.length, 0);
    assert.ok(report.warnings.some((w) => /deep\.png: text chunk 'invokeai_metadata': JSON nested deeper/.test(w)), report.warnings.join('\n'));
  });

  test(`a 64 KiB run of nested arrays parses or fails in under ${BOUND_MS} ms`, () => {
    assertFast('nested arrays', () => thrown(() => parseJsonLossless(fill('', '['))));
  });
});

describe('XMP reader: linear time, no RangeError', () => {
  const crafted: [string, string][] = [
    ['unclosed description elements', fill('', '<a:description')],
    ['opened description blocks that never close', fill('', '<a:description>')],
    ['rdf:li items that never close', fill('<a:description>', '<rdf:li>', '</a:description>')],
    ['unclosed attribute values', fill('', ' x:CreatorTool="')],
    ['elements with varying prefixes and no close', fill('', '<ab:description><abc:description>')],
  ];
  for (const [name, text] of crafted) {
    test(`${name} (64 KiB) read in under ${BOUND_MS} ms`, () => assertFast(name, () => readXmpProvenance(text)));
  }

  test('a character reference beyond U+10FFFF stays as written instead of throwing RangeError', () => {
    const xml = '<x:xmpmeta><rdf:Description a:CreatorTool="tool &#x110000; &#99999999999999999999;"/></x:xmpmeta>';
    assert.deepEqual(readXmpProvenance(xml), { creatorTool: 'tool &#x110000; &#99999999999999999999;' });
  });
});
