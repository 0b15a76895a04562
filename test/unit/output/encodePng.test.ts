import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { encodePixelsToPng, encodePngWithMetadata, type RawImage } from '../../../src/engine/output/encodePng';
import { parsePngChunks } from '../../../src/engine/output/pngChunks';
import { readPngTextFromBytes } from '../../../src/engine/output/pngText';
import { TRAINED_ALGORITHMIC_MEDIA, XMP_KEYWORD, buildXmpPacket, readXmpProvenance } from '../../../src/engine/output/xmpPacket';
import { readImageMetadata, readStoredRecipeHash } from '../../../src/engine/interop/readImageMetadata';
import { canonicalJson } from '../../../src/engine/scene/recipe';

const run = promisify(execFile);

function gradient(width: number, height: number, channels: 3 | 4 = 3): RawImage {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      data[i] = (x * 255) / (width - 1);
      data[i + 1] = (y * 255) / (height - 1);
      data[i + 2] = (x * y) & 255;
      if (channels === 4) data[i + 3] = 200;
    }
  }
  return { data, width, height, channels };
}

const recipe = {
  format: 'imgprompt.recipe/1',
  prompt: 'a lighthouse, "storm" & <waves>',
  negative: '',
  seed: '18446744073709551615',
  steps: 20,
  sampler: 'dpmpp_2m',
  schedule: 'karras',
  guidance: 6.5,
  width: 48,
  height: 32,
  model: { ref: 'tiny-shapes', path: '/p/models/tiny-shapes', hash: 'sha256:00112233445566778899' },
  loras: [],
  init: null,
  purpose: 'Shows the release-notes header on a dark background.',
  rng: 'cpu',
  hash: 'f'.repeat(64),
  engine: { version: '0.1.0', onnxruntime: '1.30.0' },
};

describe('encodePngWithMetadata', () => {
  test('same pixels and recipe give byte-identical PNGs', async () => {
    const a = await encodePngWithMetadata(gradient(48, 32), recipe);
    const b = await encodePngWithMetadata(gradient(48, 32), { ...recipe });
    assert.ok(a.equals(b));
    const other = await encodePngWithMetadata(gradient(48, 32), { ...recipe, seed: '1' });
    assert.ok(!a.equals(other), 'a different recipe changes the bytes');
  });

  test('a separate process produces the same bytes', async () => {
    const here = await encodePngWithMetadata(gradient(48, 32), recipe);
    // CommonJS because tsx compiles the sources as CommonJS in this package.
    const script = [
      `const { encodePngWithMetadata } = require(${JSON.stringify(new URL('../../../src/engine/output/encodePng.ts', import.meta.url).pathname)});`,
      `const d = Buffer.from(process.argv[1], 'base64');`,
      `encodePngWithMetadata({ data: d, width: 48, height: 32, channels: 3 }, JSON.parse(process.argv[2]))`,
      `  .then((png) => process.stdout.write(png.toString('base64')));`,
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '-e', script, Buffer.from(gradient(48, 32).data).toString('base64'), JSON.stringify(recipe)]);
    assert.ok(Buffer.from(stdout, 'base64').equals(here));
  });

  test('writes only pixel chunks plus our three text chunks, before IDAT, and nothing time-dependent', async () => {
    const png = await encodePngWithMetadata(gradient(48, 32, 4), recipe);
    const types = parsePngChunks(png).map((c) => c.type);
    assert.deepEqual(types.filter((t) => t !== 'IDAT'), ['IHDR', 'iTXt', 'tEXt', 'iTXt', 'IEND']);
    assert.ok(types.indexOf('IDAT') > types.lastIndexOf('iTXt'));
    assert.ok(!types.includes('tIME') && !types.includes('pHYs'));
  });

  test('pixels decode back exactly', async () => {
    const image = gradient(48, 32, 4);
    const png = await encodePngWithMetadata(image, recipe);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [48, 32, 4]);
    assert.ok(Buffer.from(image.data).equals(data));
  });

  test("each row's filter and filtered bytes are libpng's adaptive choice, computed here byte by byte", async () => {
    // The rule from the PNG specification (filter types 0-4) and libpng's heuristic: per row, the filter
    // whose output has the least sum of |signed byte|; ties to the lower type.
    const reference = (data: Uint8Array, width: number, height: number, bpp: number): Uint8Array => {
      const stride = width * bpp;
      const out = new Uint8Array((stride + 1) * height);
      const at = (x: number, y: number) => (x < 0 || y < 0 ? 0 : data[y * stride + x]);
      for (let y = 0; y < height; y++) {
        const rows = [0, 1, 2, 3, 4].map((type) =>
          Array.from({ length: stride }, (_, i) => {
            const x = at(i, y);
            const a = at(i - bpp, y);
            const b = at(i, y - 1);
            const c = at(i - bpp, y - 1);
            const p = a + b - c;
            const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
            return (x - [0, a, b, Math.floor((a + b) / 2), paeth][type] + 256) % 256;
          }),
        );
        const costs = rows.map((r) => r.reduce((n, v) => n + (v < 128 ? v : 256 - v), 0));
        const best = costs.indexOf(Math.min(...costs));
        out[y * (stride + 1)] = best;
        out.set(rows[best], y * (stride + 1) + 1);
      }
      return out;
    };
    let state = 99;
    const rand = () => ((state = (state * 1103515245 + 12345) & 0x7fffffff) >> 16) & 255;
    const { inflateSync } = await import('node:zlib');
    const used = new Set<number>();
    for (const channels of [1, 2, 3, 4] as const) {
      for (const [width, height] of [[1, 3], [2, 2], [9, 6], [40, 12]]) {
        for (const kind of ['noise', 'gradient', 'mixed']) {
          const data = new Uint8Array(width * height * channels);
          for (let i = 0; i < data.length; i++) {
            const row = Math.floor(i / (width * channels));
            const smooth = (i * 3 + row * 11) & 255;
            data[i] = kind === 'noise' ? rand() : kind === 'gradient' ? smooth : row % 2 ? rand() : smooth;
          }
          const png = await encodePixelsToPng({ data, width, height, channels });
          const raw = inflateSync(parsePngChunks(png).find((c) => c.type === 'IDAT')!.data);
          const expected = reference(data, width, height, channels);
          assert.deepEqual(new Uint8Array(raw), expected, `${channels} channels ${width}x${height} ${kind}`);
          for (let y = 0; y < height; y++) used.add(expected[y * (width * channels + 1)]);
        }
      }
    }
    assert.deepEqual([...used].sort(), [0, 1, 2, 3, 4], 'the images exercise every filter type');
  });

  test('every channel count and every filter round-trips through an independent decoder (libpng via sharp)', async () => {
    // Noise favours None/Sub, gradients Up/Average/Paeth: together they make the heuristic pick each filter.
    let state = 12345;
    const rand = () => ((state = (state * 1103515245 + 12345) & 0x7fffffff) >> 16) & 255;
    for (const channels of [1, 2, 3, 4] as const) {
      for (const [width, height] of [[1, 1], [7, 5], [33, 17]]) {
        const data = new Uint8Array(width * height * channels);
        for (let i = 0; i < data.length; i++) data[i] = (i / channels) % 3 === 0 ? rand() : (i * 7 + Math.floor(i / (width * channels)) * 13) & 255;
        const png = await encodePixelsToPng({ data, width, height, channels });
        const filters = new Set<number>();
        const idat = parsePngChunks(png).find((c) => c.type === 'IDAT')!.data;
        const raw = (await import('node:zlib')).inflateSync(idat);
        for (let y = 0; y < height; y++) filters.add(raw[y * (width * channels + 1)]);
        assert.ok([...filters].every((f) => f >= 0 && f <= 4));
        const meta = await sharp(png).metadata();
        assert.deepEqual([meta.width, meta.height, meta.channels], [width, height, channels], `${channels} channels ${width}x${height}`);
        // sharp hands grey back expanded to RGB(A): compare against that expansion.
        const decoded = await sharp(png).raw().toBuffer({ resolveWithObject: true });
        const expected = channels >= 3 ? Buffer.from(data) : Buffer.from(Array.from({ length: width * height }, (_, p) => (channels === 1 ? [data[p], data[p], data[p]] : [data[2 * p], data[2 * p], data[2 * p], data[2 * p + 1]])).flat());
        assert.ok(expected.equals(decoded.data), `${channels} channels ${width}x${height}: pixels differ`);
      }
    }
  });

  test('carries the canonical recipe, the A1111 infotext and the XMP AI disclosure', async () => {
    const png = await encodePngWithMetadata(gradient(48, 32), recipe);
    const text = new Map(readPngTextFromBytes(png).map((t) => [t.keyword, t]));
    assert.equal(text.get('imgprompt')?.text, canonicalJson(recipe));
    assert.equal(text.get('imgprompt')?.chunkType, 'iTXt');
    assert.equal(text.get('parameters')?.chunkType, 'tEXt');
    assert.equal(
      text.get('parameters')?.text,
      'a lighthouse, "storm" & <waves>\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 18446744073709551615, ' +
        'Size: 48x32, Model hash: 0011223344, Model: tiny-shapes, RNG: CPU, Version: imgprompt 0.1.0',
    );
    const xmp = text.get(XMP_KEYWORD);
    assert.equal(xmp?.chunkType, 'iTXt');
    assert.equal(xmp?.compressed, false, 'XMP in PNG must be uncompressed iTXt');
    assert.match(xmp?.text ?? '', /Iptc4xmpExt:DigitalSourceType="http:\/\/cv\.iptc\.org\/newscodes\/digitalsourcetype\/trainedAlgorithmicMedia"/);

    const report = readImageMetadata(png, 'out.png');
    assert.equal(report.metadata?.source, 'imgprompt');
    assert.equal(report.metadata?.seed, 18446744073709551615n);
    assert.equal(report.metadata?.prompt, recipe.prompt);
    assert.equal(report.metadata?.purpose, recipe.purpose);
    assert.deepEqual(report.provenance, {
      aiGenerated: true,
      digitalSourceType: TRAINED_ALGORITHMIC_MEDIA,
      creatorTool: 'imgprompt 0.1.0',
      purpose: recipe.purpose,
      recipeHash: recipe.hash,
      engineVersion: '0.1.0',
      onnxruntimeVersion: '1.30.0',
      rng: 'cpu',
    });
    assert.deepEqual(report.sources.map((s) => s.source), ['imgprompt', 'automatic1111']);
    assert.equal(readStoredRecipeHash(png), recipe.hash);
  });

  test('rejects a pixel buffer that does not match the size', async () => {
    await assert.rejects(encodePixelsToPng({ data: new Uint8Array(10), width: 4, height: 4, channels: 3 }), /holds 10 bytes; 4x4x3 needs 48/);
    await assert.rejects(encodePixelsToPng({ data: new Uint8Array(0), width: 0, height: 4, channels: 3 }), /image size 0x4 is invalid/);
  });
});

describe('XMP packet', () => {
  test('escapes XML and reads back prompt, tool, purpose and source type', () => {
    const xml = buildXmpPacket({ prompt: 'a < b & "c"\nline 2', creatorTool: 'imgprompt 9.9', purpose: 'why & how' });
    assert.ok(xml.startsWith('<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>'));
    assert.ok(xml.endsWith('<?xpacket end="r"?>'));
    assert.ok(xml.includes('>a &lt; b &amp; &quot;c&quot;&#10;line 2</rdf:li>'));
    assert.deepEqual(readXmpProvenance(xml), {
      digitalSourceType: TRAINED_ALGORITHMIC_MEDIA,
      creatorTool: 'imgprompt 9.9',
      description: 'a < b & "c"\nline 2',
      purpose: 'why & how',
    });
  });

  test('reads the element form other tools write', () => {
    const xml =
      '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description>' +
      '<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture</Iptc4xmpExt:DigitalSourceType>' +
      '<xmp:CreatorTool>Camera &amp; Co</xmp:CreatorTool>' +
      '<dc:description><rdf:Alt><rdf:li xml:lang="de">Hallo</rdf:li><rdf:li xml:lang="x-default">Hello</rdf:li></rdf:Alt></dc:description>' +
      '</rdf:Description></rdf:RDF></x:xmpmeta>';
    assert.deepEqual(readXmpProvenance(xml), {
      digitalSourceType: 'http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture',
      creatorTool: 'Camera & Co',
      description: 'Hello',
    });
  });
});
