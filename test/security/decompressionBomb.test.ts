// Issue 15, defect 7: the inflate cap on zTXt/iTXt text is per file, not per chunk, and the number of
// chunks (text chunks and all chunks) is capped, so many small chunks cannot add up to gigabytes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { InputError } from '../../src/engine/errors';
import { readImageMetadata } from '../../src/engine/interop/readImageMetadata';
import { encodePngChunks, parsePngChunks, type PngChunk } from '../../src/engine/output/pngChunks';
import { MAX_INFLATED_TEXT_BYTES, readPngTextFromBytes } from '../../src/engine/output/pngText';
import { pngWith, tEXt, thrown } from './securityHelpers';

/** A zTXt chunk whose text inflates to `bytes` spaces (a few hundred bytes compressed per MiB). */
function zTXtOf(keyword: string, bytes: number): PngChunk {
  return { type: 'zTXt', data: Buffer.concat([Buffer.from(`${keyword}\0\0`, 'latin1'), deflateSync(Buffer.alloc(bytes, 0x20), { level: 9 })]) };
}

/** An iTXt chunk, compressed, inflating to `bytes` spaces. */
function iTXtOf(keyword: string, bytes: number): PngChunk {
  return { type: 'iTXt', data: Buffer.concat([Buffer.from(`${keyword}\0\x01\0\0\0`, 'latin1'), deflateSync(Buffer.alloc(bytes, 0x20), { level: 9 })]) };
}

describe('decompression bombs: the inflate cap is per file', () => {
  // Five chunks, each a quarter of the cap plus one byte: every chunk alone is under the cap, together over.
  const quarter = Math.floor(MAX_INFLATED_TEXT_BYTES / 4) + 1;
  const bomb = pngWith([zTXtOf('a', quarter), iTXtOf('b', quarter), zTXtOf('c', quarter), iTXtOf('d', quarter), zTXtOf('e', quarter)]);

  test('the bomb is small on disk', () => {
    assert.ok(bomb.length < 200_000, `${bomb.length} bytes`);
  });

  test('reading the text chunks is refused once their inflated total passes the per-file cap', () => {
    const error = thrown(() => readPngTextFromBytes(bomb, 'bomb.png'));
    assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
    assert.match(error.message, new RegExp(`^bomb\\.png: (zTXt|iTXt) chunk '[a-e]' .*${MAX_INFLATED_TEXT_BYTES} bytes in total`));
  });

  test('inspect reads what fits, warns once, and never holds more than the cap', () => {
    const report = readImageMetadata(bomb, 'bomb.png');
    const total = report.text.reduce((sum, t) => sum + t.text.length, 0);
    assert.ok(total <= MAX_INFLATED_TEXT_BYTES, `${total} bytes of text kept`);
    assert.equal(report.text.length, 3);
    assert.equal(report.warnings.length, 1, report.warnings.join('\n'));
    assert.match(report.warnings[0], new RegExp(`^bomb\\.png: iTXt chunk 'd' .*${MAX_INFLATED_TEXT_BYTES} bytes in total.*; 1 more compressed text chunk skipped$`));
  });
});

describe('decompression bombs: chunk counts are capped', () => {
  test('more text chunks than the cap is an InputError for readPngText and one warning for inspect', () => {
    const chunks = Array.from({ length: 5000 }, (_, i) => tEXt(`k${i}`, 'x'));
    const png = pngWith(chunks);
    const error = thrown(() => readPngTextFromBytes(png, 'many.png'));
    assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
    assert.match(error.message, /^many\.png: more than \d+ text chunks/);
    const report = readImageMetadata(png, 'many.png');
    assert.ok(report.text.length < 5000);
    assert.equal(report.warnings.length, 1);
    assert.match(report.warnings[0], /more than \d+ text chunks; the rest are ignored/);
  });

  test('a PNG of 300 000 empty chunks is refused by the chunk reader with the count it allows', () => {
    const filler: PngChunk = { type: 'ruSt', data: Buffer.alloc(0) };
    const chunks = parsePngChunks(pngWith([]));
    const png = encodePngChunks([chunks[0], ...Array.from({ length: 300_000 }, () => filler), ...chunks.slice(1)]);
    const error = thrown(() => parsePngChunks(png, { file: 'confetti.png' }));
    assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
    assert.match(error.message, /^confetti\.png: PNG has more than \d+ chunks/);
  });
});
