// The provenance panel on a JPEG or WebP: it opens (no recipe to read: those live in PNG chunks) and reads
// the watermark from the pixels, as it does for a PNG.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { embedWatermark, encodePngWithMetadata, InputError, payloadOfHash, type RGBImage } from '../../../src/engine/index';
import { imageFormat, readImageReport } from '../../../src/extension/preview/imageReport';
import { watermarkInFile, watermarkRow, type WatermarkSearch } from '../../../src/extension/preview/watermarkCheck';
import { readWatermarkFile } from '../../../src/engine/watermark';

/** What the render worker runs for RenderWorkerClient.detectWatermark (test/engine/provenance/workerC2pa.test.ts takes that route). */
const search: WatermarkSearch = (file) => readWatermarkFile(file);

/** A 256² picture with texture (a watermark hides in texture), seeded so it is the same every run. */
function picture(): RGBImage {
  const width = 256;
  const height = 256;
  const data = new Uint8Array(width * height * 3);
  let state = 12345;
  for (let i = 0; i < width * height; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    const x = i % width;
    const y = Math.floor(i / width);
    const noise = (state >>> 24) % 40;
    data[i * 3] = 60 + ((x * 120) / width + noise) | 0;
    data[i * 3 + 1] = 80 + ((y * 100) / height + noise) | 0;
    data[i * 3 + 2] = 120 + noise;
  }
  return { data, width, height };
}

test('the signature decides the format, not the name', () => {
  assert.equal(imageFormat(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'png');
  assert.equal(imageFormat(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0])), 'jpeg');
  assert.equal(imageFormat(new TextEncoder().encode('RIFF\0\0\0\0WEBPVP8 ')), 'webp');
  assert.equal(imageFormat(new TextEncoder().encode('RIFF\0\0\0\0WAVEfmt ')), undefined);
  assert.equal(imageFormat(new TextEncoder().encode('hello')), undefined);
});

test('a watermarked figure saved as JPEG or WebP: the panel opens with no recipe and finds the watermark in its pixels', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-panel-jpeg-'));
  try {
    const hash = 'sha256:' + '5e'.repeat(4) + '0'.repeat(56);
    const payload = payloadOfHash(hash.slice('sha256:'.length));
    const marked = embedWatermark(picture(), payload);
    const raw = sharp(Buffer.from(marked.data), { raw: { width: marked.width, height: marked.height, channels: 3 } });
    const files = {
      jpeg: join(dir, 'figure.jpg'),
      webp: join(dir, 'figure.webp'),
      png: join(dir, 'figure.png'),
      unmarked: join(dir, 'plain.jpg'),
    };
    writeFileSync(files.jpeg, await raw.clone().jpeg({ quality: 90 }).toBuffer());
    writeFileSync(files.webp, await raw.clone().webp({ quality: 90 }).toBuffer());
    writeFileSync(files.png, await encodePngWithMetadata({ ...marked, channels: 3 }, { prompt: 'p', seed: '1', steps: 4, model: { name: 'tiny-shapes' }, hash }));
    const p = picture();
    writeFileSync(files.unmarked, await sharp(Buffer.from(p.data), { raw: { width: p.width, height: p.height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());

    for (const [format, file] of [['jpeg', files.jpeg], ['webp', files.webp]] as const) {
      const report = await readImageReport(file);
      assert.equal(report.format, format);
      assert.equal(report.metadata, undefined);
      assert.match(report.warnings.join('\n'), /carries no imgprompt recipe/);
      const check = await watermarkInFile(file, search);
      assert.ok('found' in check && check.found.detected, `no watermark found in the ${format}`);
      assert.equal(check.found.payload, payload);
      assert.match(watermarkRow(check, report.provenance) ?? '', new RegExp(`^present: ${payload}, the first 32 bits of the recipe hash`));
    }
    const plain = await watermarkInFile(files.unmarked, search);
    assert.ok('found' in plain && !plain.found.detected, 'a watermark was found in an unmarked JPEG');
    assert.equal(watermarkRow(plain, (await readImageReport(files.unmarked)).provenance), 'none found');
    // An unchanged file is not searched again; no worker is said as such, and asked again next time.
    let searches = 0;
    const counted = (f: string) => (searches++, search(f));
    await watermarkInFile(files.unmarked, counted);
    assert.equal(searches, 0, 'the remembered answer');
    const refused = await watermarkInFile(files.webp + '.copy', () => Promise.reject(new Error('rendering is turned off in Restricted Mode')));
    assert.equal(watermarkRow(refused, undefined as never), 'not read: rendering is turned off in Restricted Mode');

    const png = await readImageReport(files.png);
    assert.equal(png.format, 'png');
    assert.equal(png.metadata?.prompt, 'p', 'a PNG is read for its metadata as before');

    const text = join(dir, 'notes.jpg');
    writeFileSync(text, 'not an image at all');
    assert.equal(watermarkRow(await watermarkInFile(text, search), undefined as never), undefined, 'no row for what is not an image');
    await assert.rejects(readImageReport(text), (e: unknown) => e instanceof InputError && e.message.includes('notes.jpg'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
