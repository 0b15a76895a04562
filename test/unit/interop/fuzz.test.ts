// Hostile or garbled metadata must never crash a reader: readers return what they can, and only a file
// that is not a valid PNG is an error (InputError).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../../src/engine/errors';
import { parseInfotext } from '../../../src/engine/interop/automatic1111';
import { metadataFromComfyGraph, type ComfyGraph } from '../../../src/engine/interop/comfyui';
import { readImageMetadata } from '../../../src/engine/interop/readImageMetadata';
import { insertPngText } from '../../../src/engine/output/pngText';
import { encodePngChunks } from '../../../src/engine/output/pngChunks';

/** A small deterministic generator (LCG) so failures reproduce. */
function generator(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return Math.floor((state / 2 ** 32) * n);
  };
}

const PIECES = ['a', 'cat', ' ', ',', ':', '"', '\\', '\n', 'Negative prompt:', '<lora:', '>', 'Steps: ', '20', 'Seed: ', '99999999999999999999', 'Size: ', '512x', 'Sampler: ', 'Euler a', 'x'];

describe('reader robustness', () => {
  test('parseInfotext accepts 3000 random texts without throwing', () => {
    const random = generator(1);
    for (let i = 0; i < 3000; i++) {
      let text = '';
      const n = random(40);
      for (let j = 0; j < n; j++) text += PIECES[random(PIECES.length)];
      const meta = parseInfotext(text);
      assert.equal(meta.source, 'automatic1111');
      for (const lora of meta.loras) assert.ok(Number.isFinite(lora.weight));
    }
  });

  test('the ComfyUI walker survives 3000 randomly rewired graphs (dangling links, wrong types; cycles are InputErrors)', () => {
    const random = generator(2);
    const types = ['KSampler', 'SamplerCustom', 'SamplerCustomAdvanced', 'CLIPTextEncode', 'LoraLoader', 'CheckpointLoaderSimple', 'EmptyLatentImage', 'VAEEncode', 'ControlNetApplyAdvanced', 'KSamplerSelect', 'BasicScheduler', 'CFGGuider', 'Other'];
    const names = ['positive', 'negative', 'model', 'latent_image', 'conditioning', 'text', 'seed', 'noise_seed', 'steps', 'cfg', 'sampler', 'sigmas', 'guider', 'noise', 'pixels', 'control_net', 'image', 'lora_name', 'strength_model', 'width', 'height'];
    const values = (): unknown => [null, 'euler', 7, -1, 1.5e300, [], {}, ['1'], ['99', 0], [0, 0], true][random(11)];
    for (let i = 0; i < 3000; i++) {
      const graph: ComfyGraph = {};
      const count = 1 + random(8);
      for (let id = 0; id < count; id++) {
        const inputs: Record<string, unknown> = {};
        for (let k = random(6); k > 0; k--) inputs[names[random(names.length)]] = random(2) ? [String(random(count)), random(3)] : values();
        graph[String(id)] = { class_type: types[random(types.length)], inputs };
      }
      try {
        const meta = metadataFromComfyGraph(graph);
        if (meta) assert.equal(meta.source, 'comfyui');
      } catch (error) {
        assert.ok(error instanceof InputError && /cycle/.test(error.message), String(error));
      }
    }
  });

  test('readImageMetadata on corrupted PNGs throws only InputError', () => {
    const png = insertPngText(
      encodePngChunks([
        { type: 'IHDR', data: Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]) },
        { type: 'IDAT', data: Buffer.from([0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01]) },
        { type: 'IEND', data: Buffer.alloc(0) },
      ]),
      [
        { keyword: 'imgprompt', text: '{"prompt":"p","seed":"5"}', chunkType: 'iTXt', compressed: true },
        { keyword: 'prompt', text: '{"1":{"class_type":"KSampler","inputs":{"seed":3}}}' },
        { keyword: 'parameters', text: 'p\nSteps: 1, Seed: 2, CFG scale: 3' },
      ],
    );
    assert.equal(readImageMetadata(png).sources.length, 3);
    const random = generator(3);
    for (let i = 0; i < 3000; i++) {
      const bad = Buffer.from(png);
      for (let k = 1 + random(3); k > 0; k--) bad[8 + random(bad.length - 8)] = random(256);
      try {
        readImageMetadata(bad, 'fuzz.png');
      } catch (error) {
        assert.ok(error instanceof InputError, String(error));
        assert.match(error.message, /^fuzz\.png: /);
      }
    }
  });

  test('unparseable text chunks become warnings, not errors', () => {
    const png = insertPngText(
      encodePngChunks([
        { type: 'IHDR', data: Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]) },
        { type: 'IDAT', data: Buffer.from([0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01]) },
        { type: 'IEND', data: Buffer.alloc(0) },
      ]),
      [
        { keyword: 'imgprompt', text: '{not json', chunkType: 'iTXt' },
        { keyword: 'invokeai_metadata', text: '"a string"' },
      ],
    );
    const report = readImageMetadata(png, 'w.png');
    assert.equal(report.metadata, undefined);
    assert.deepEqual(report.warnings, [
      "w.png: text chunk 'imgprompt' is not in the expected format; ignored",
      "w.png: text chunk 'invokeai_metadata' is not in the expected format; ignored",
    ]);
  });
});
