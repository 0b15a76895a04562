import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { InputError } from '../../../src/engine/errors';
import { PNG_SIGNATURE, encodePngChunks, isPng, parsePngChunks, type PngChunk } from '../../../src/engine/output/pngChunks';

// A 1x1 8-bit greyscale image: IHDR, one IDAT (zlib stream of filter byte 0 + pixel 0), IEND.
function tinyPng(): Buffer {
  const ihdr = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
  const idat = Buffer.from([0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01]);
  return encodePngChunks([
    { type: 'IHDR', data: ihdr },
    { type: 'IDAT', data: idat },
    { type: 'IEND', data: Buffer.alloc(0) },
  ]);
}

function expectInputError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InputError, `expected InputError, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('parsePngChunks', () => {
  test('round-trips chunks and checks the layout byte for byte', () => {
    const png = tinyPng();
    assert.ok(isPng(png));
    assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
    // Length field of IHDR is 13, its type follows, and its CRC is CRC-32 over type + data.
    assert.equal(png.readUInt32BE(8), 13);
    assert.equal(png.toString('latin1', 12, 16), 'IHDR');
    assert.equal(png.readUInt32BE(8 + 8 + 13), crc32(png.subarray(12, 12 + 4 + 13)));
    const chunks = parsePngChunks(png);
    assert.deepEqual(chunks.map((c) => c.type), ['IHDR', 'IDAT', 'IEND']);
    assert.deepEqual(encodePngChunks(chunks), png);
  });

  test('the well-known CRC of an empty IEND chunk is 0xAE426082', () => {
    const png = tinyPng();
    assert.equal(png.readUInt32BE(png.length - 4), 0xae426082);
  });

  test('bytes after IEND are ignored', () => {
    const chunks = parsePngChunks(Buffer.concat([tinyPng(), Buffer.from('trailing junk')]));
    assert.equal(chunks.at(-1)?.type, 'IEND');
  });

  test('a missing signature is an InputError naming the file', () => {
    expectInputError(() => parsePngChunks(Buffer.from('GIF89a....'), { file: 'cat.gif' }), /^cat\.gif: not a PNG file/);
  });

  test('a CRC mismatch names the chunk, offset and both values', () => {
    const png = tinyPng();
    png[8 + 8] ^= 0xff; // flip the first IHDR data byte
    expectInputError(() => parsePngChunks(png, { file: 'x.png' }), /x\.png: corrupt PNG: CRC mismatch in chunk 'IHDR' at byte 8 \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)/);
    assert.equal(parsePngChunks(png, { verifyCrc: false }).length, 3);
  });

  test('a length beyond the end of the file is refused without reading or allocating it', () => {
    const png = tinyPng();
    png.writeUInt32BE(0x7ffffff0, 8); // IHDR claims ~2 GiB
    expectInputError(() => parsePngChunks(png, { file: 'big.png' }), /truncated PNG: chunk 'IHDR' at byte 8 declares 2147483632 data bytes but only \d+ remain/);
    png.writeUInt32BE(0xfffffff0, 8);
    expectInputError(() => parsePngChunks(png), /declares length 4294967280 \(maximum 2147483647\)/);
  });

  test('a file cut before IEND is truncated', () => {
    const png = tinyPng();
    expectInputError(() => parsePngChunks(png.subarray(0, png.length - 12), { file: 't.png' }), /t\.png: truncated PNG: chunk header at byte \d+ runs past the end/);
    expectInputError(() => parsePngChunks(png.subarray(0, 30)), /truncated PNG/);
  });

  test('the first chunk must be IHDR and chunk types must be letters', () => {
    const chunks: PngChunk[] = parsePngChunks(tinyPng());
    expectInputError(() => parsePngChunks(encodePngChunks([chunks[1], chunks[0], chunks[2]])), /first chunk is 'IDAT', expected 'IHDR'/);
    const png = tinyPng();
    png.write('I#DR', 12, 'latin1');
    expectInputError(() => parsePngChunks(png), /invalid chunk type "I#DR" at byte 12/);
  });

  test('every single-byte truncation and random corruption of a real PNG fails only with InputError', () => {
    const png = tinyPng();
    for (let n = 0; n < png.length; n++) {
      assert.throws(() => parsePngChunks(png.subarray(0, n)), InputError);
    }
    let state = 12345;
    const random = () => ((state = (state * 1103515245 + 12345) >>> 0) >>> 16) / 65536;
    for (let i = 0; i < 2000; i++) {
      const bad = Buffer.from(png);
      bad[8 + Math.floor(random() * (bad.length - 8))] = Math.floor(random() * 256);
      try {
        parsePngChunks(bad);
      } catch (error) {
        assert.ok(error instanceof InputError, String(error));
      }
    }
  });
});
