import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { InputError } from '../../../src/engine/errors';
import { encodePngChunks, parsePngChunks, type PngChunk } from '../../../src/engine/output/pngChunks';
import {
  MAX_INFLATED_TEXT_BYTES,
  checkPngKeyword,
  decodeTextChunk,
  encodeTextChunk,
  insertPngText,
  readPngTextFromBytes,
} from '../../../src/engine/output/pngText';

function tinyPng(): Buffer {
  return encodePngChunks([
    { type: 'IHDR', data: Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]) },
    { type: 'IDAT', data: Buffer.from([0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01]) },
    { type: 'IEND', data: Buffer.alloc(0) },
  ]);
}

describe('text chunk layouts', () => {
  test('tEXt is keyword NUL Latin-1 text', () => {
    const chunk = encodeTextChunk({ keyword: 'Comment', text: 'café' });
    assert.equal(chunk.type, 'tEXt');
    assert.deepEqual(chunk.data, Buffer.from([...Buffer.from('Comment'), 0, 0x63, 0x61, 0x66, 0xe9]));
    assert.deepEqual(decodeTextChunk(chunk), { chunkType: 'tEXt', keyword: 'Comment', text: 'café', compressed: false });
  });

  test('text outside Latin-1 goes to iTXt as UTF-8 (as Pillow does)', () => {
    const chunk = encodeTextChunk({ keyword: 'parameters', text: '富士山 at dawn' });
    assert.equal(chunk.type, 'iTXt');
    // keyword NUL, flag 0, method 0, empty language NUL, empty translated keyword NUL, UTF-8 text
    assert.deepEqual(chunk.data, Buffer.concat([Buffer.from('parameters'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from('富士山 at dawn', 'utf8')]));
    assert.throws(() => encodeTextChunk({ keyword: 'k', text: '富', chunkType: 'tEXt' }), /can hold only Latin-1 text/);
  });

  test('compressed iTXt with language tag and translated keyword round-trips', () => {
    const entry = { keyword: 'Title', text: 'Ünïcödé 🌋 '.repeat(50), chunkType: 'iTXt' as const, compressed: true, languageTag: 'de-CH', translatedKeyword: 'Titel' };
    const chunk = encodeTextChunk(entry);
    assert.ok(chunk.data.length < Buffer.byteLength(entry.text), 'compressed text is smaller');
    assert.deepEqual(decodeTextChunk(chunk), entry);
  });

  test('zTXt round-trips and decodes a hand-made chunk', () => {
    const made: PngChunk = { type: 'zTXt', data: Buffer.concat([Buffer.from('Description\0\0', 'latin1'), deflateSync(Buffer.from('façade', 'latin1'))]) };
    assert.deepEqual(decodeTextChunk(made), { chunkType: 'zTXt', keyword: 'Description', text: 'façade', compressed: true });
    const ours = encodeTextChunk({ keyword: 'Description', text: 'façade', chunkType: 'zTXt' });
    assert.equal(decodeTextChunk(ours).text, 'façade');
  });

  test('keyword rules: 1–79 printable Latin-1, no leading, trailing or double spaces', () => {
    checkPngKeyword('XML:com.adobe.xmp');
    checkPngKeyword('k'.repeat(79));
    assert.throws(() => checkPngKeyword(''), /must be 1 to 79 characters long \(it has 0\)/);
    assert.throws(() => checkPngKeyword('k'.repeat(80)), /it has 80/);
    assert.throws(() => checkPngKeyword(' lead'), /leading, trailing or consecutive spaces/);
    assert.throws(() => checkPngKeyword('a  b'), /consecutive spaces/);
    assert.throws(() => checkPngKeyword('tab\there'), /printable Latin-1/);
  });

  test('malformed text chunks are InputErrors naming the file and chunk', () => {
    const noNul: PngChunk = { type: 'tEXt', data: Buffer.from('no separator here') };
    assert.throws(() => decodeTextChunk(noNul, 'f.png'), (e: unknown) => e instanceof InputError && /^f\.png: malformed tEXt chunk/.test(e.message));
    const badZ: PngChunk = { type: 'zTXt', data: Buffer.from('k\0\0not zlib', 'latin1') };
    assert.throws(() => decodeTextChunk(badZ, 'f.png'), /f\.png: zTXt chunk 'k' holds corrupt compressed data/);
    const cutITXt: PngChunk = { type: 'iTXt', data: Buffer.from('k\0\0\0en', 'latin1') };
    assert.throws(() => decodeTextChunk(cutITXt), /malformed iTXt chunk 'k': language tag or translated keyword not terminated/);
  });

  test('a decompression bomb is refused at the cap instead of inflating', () => {
    const bomb = deflateSync(Buffer.alloc(MAX_INFLATED_TEXT_BYTES + 1), { level: 9 });
    assert.ok(bomb.length < 100_000, `bomb is ${bomb.length} bytes compressed`);
    const chunk: PngChunk = { type: 'zTXt', data: Buffer.concat([Buffer.from('k\0\0', 'latin1'), bomb]) };
    assert.throws(() => decodeTextChunk(chunk, 'bomb.png'), new RegExp(`bomb\\.png: zTXt chunk 'k' inflates past the ${MAX_INFLATED_TEXT_BYTES} bytes in total`));
  });
});

describe('insertPngText', () => {
  test('puts text chunks after IHDR and before the first IDAT, and reads them back', () => {
    const png = insertPngText(tinyPng(), [
      { keyword: 'parameters', text: 'a cat\nSteps: 20, Sampler: Euler, CFG scale: 7' },
      { keyword: 'imgprompt', text: '{"prompt":"a cat"}', chunkType: 'iTXt', compressed: true },
    ]);
    assert.deepEqual(parsePngChunks(png).map((c) => c.type), ['IHDR', 'tEXt', 'iTXt', 'IDAT', 'IEND']);
    assert.deepEqual(readPngTextFromBytes(png).map((t) => [t.keyword, t.text]), [
      ['parameters', 'a cat\nSteps: 20, Sampler: Euler, CFG scale: 7'],
      ['imgprompt', '{"prompt":"a cat"}'],
    ]);
  });

  test('re-stamping replaces entries with the same keyword instead of duplicating them', () => {
    const once = insertPngText(tinyPng(), [{ keyword: 'parameters', text: 'old' }, { keyword: 'Author', text: 'me' }]);
    const twice = insertPngText(once, [{ keyword: 'parameters', text: 'new' }]);
    assert.deepEqual(readPngTextFromBytes(twice).map((t) => `${t.keyword}=${t.text}`), ['Author=me', 'parameters=new']);
  });
});
