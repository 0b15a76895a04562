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
import { describeWatermarkFinding, watermarkInFile } from '../../../src/extension/preview/watermarkCheck';

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
      const found = await watermarkInFile(file);
      assert.ok(found?.detected, `no watermark found in the ${format}`);
      assert.equal(found.payload, payload);
      assert.match(describeWatermarkFinding(found, report.provenance), new RegExp(`^present: ${payload}, the first 32 bits of the recipe hash`));
    }
    const plain = await watermarkInFile(files.unmarked);
    assert.equal(plain?.detected, false, 'a watermark was found in an unmarked JPEG');
    assert.equal(describeWatermarkFinding(plain, (await readImageReport(files.unmarked)).provenance), 'none found');

    const png = await readImageReport(files.png);
    assert.equal(png.format, 'png');
    assert.equal(png.metadata?.prompt, 'p', 'a PNG is read for its metadata as before');

    const text = join(dir, 'notes.jpg');
    writeFileSync(text, 'not an image at all');
    await assert.rejects(readImageReport(text), (e: unknown) => e instanceof InputError && e.message.includes('notes.jpg'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
