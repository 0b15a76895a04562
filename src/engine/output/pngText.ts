// PNG text chunks: reading tEXt, zTXt and iTXt (compressed or not) and writing tEXt and iTXt, then
// inserting them into an encoded PNG before its first IDAT. Layouts follow the PNG specification
// (W3C PNG 3rd ed., 11.3.3); decompression is capped so a small hostile chunk cannot inflate unboundedly.
import { deflateSync, inflateSync } from 'node:zlib';
import { InputError } from '../errors';
import { encodePngChunks, parsePngChunks, type PngChunk } from './pngChunks';

export type PngTextChunkType = 'tEXt' | 'zTXt' | 'iTXt';

/** One decoded text chunk. */
export interface PngTextEntry {
  keyword: string;
  text: string;
  /** The chunk it came from (reading) or should go into (writing; default tEXt if Latin-1, else iTXt). */
  chunkType?: PngTextChunkType;
  /** Whether the text was (or should be) zlib-compressed; zTXt always is. */
  compressed?: boolean;
  /** iTXt only: RFC 3066 language tag, e.g. `en-GB`. */
  languageTag?: string;
  /** iTXt only: the keyword translated into the language. */
  translatedKeyword?: string;
}

/** Inflated text larger than this is refused (a decompression bomb guard). */
export const MAX_INFLATED_TEXT_BYTES = 64 * 1024 * 1024;

const TEXT_TYPES = new Set<string>(['tEXt', 'zTXt', 'iTXt']);

/** Checks the PNG keyword rules (1–79 Latin-1 printable bytes, no leading, trailing or double spaces). */
export function checkPngKeyword(keyword: string): void {
  const problem =
    keyword.length < 1 || keyword.length > 79
      ? `must be 1 to 79 characters long (it has ${keyword.length})`
      : /[^\x20-\x7e\xa1-\xff]/.test(keyword)
        ? 'may contain only printable Latin-1 characters'
        : /^ | $|  /.test(keyword)
          ? 'may not have leading, trailing or consecutive spaces'
          : undefined;
  if (problem) throw new RangeError(`invalid PNG text keyword ${JSON.stringify(keyword)}: ${problem}`);
}

/** True when every character of the text can be written to a tEXt chunk (Latin-1, no NUL). */
export function isLatin1Text(text: string): boolean {
  return !/[^\x01-\xff]/.test(text);
}

function inflateText(data: Buffer, where: string, file: string): Buffer {
  try {
    return inflateSync(data, { maxOutputLength: MAX_INFLATED_TEXT_BYTES });
  } catch (error) {
    const reason = error instanceof RangeError ? `inflates beyond ${MAX_INFLATED_TEXT_BYTES} bytes` : 'holds corrupt compressed data';
    throw new InputError(`${where} ${reason}`, file);
  }
}

/** Decodes one tEXt, zTXt or iTXt chunk. Throws InputError for a malformed one. */
export function decodeTextChunk(chunk: PngChunk, file = '<buffer>'): PngTextEntry {
  const { type, data } = chunk;
  if (!TEXT_TYPES.has(type)) throw new RangeError(`not a text chunk: '${type}'`);
  const nul = data.indexOf(0);
  if (nul < 1 || nul > 79) throw new InputError(`malformed ${type} chunk: keyword missing or longer than 79 bytes`, file);
  const keyword = data.toString('latin1', 0, nul);
  const where = `${type} chunk '${keyword}'`;
  if (type === 'tEXt') return { chunkType: 'tEXt', keyword, text: data.toString('latin1', nul + 1), compressed: false };
  if (type === 'zTXt') {
    if (nul + 2 > data.length || data[nul + 1] !== 0) throw new InputError(`malformed ${where}: unknown compression method`, file);
    return { chunkType: 'zTXt', keyword, text: inflateText(data.subarray(nul + 2), where, file).toString('latin1'), compressed: true };
  }
  // iTXt: keyword NUL flag method language NUL translated NUL text
  if (nul + 3 > data.length) throw new InputError(`malformed ${where}: truncated header`, file);
  const compressed = data[nul + 1] === 1;
  if (data[nul + 1] > 1 || (compressed && data[nul + 2] !== 0)) throw new InputError(`malformed ${where}: unknown compression flag or method`, file);
  const langEnd = data.indexOf(0, nul + 3);
  const transEnd = langEnd < 0 ? -1 : data.indexOf(0, langEnd + 1);
  if (transEnd < 0) throw new InputError(`malformed ${where}: language tag or translated keyword not terminated`, file);
  const body = data.subarray(transEnd + 1);
  return {
    chunkType: 'iTXt',
    keyword,
    text: (compressed ? inflateText(body, where, file) : body).toString('utf8'),
    compressed,
    languageTag: data.toString('latin1', nul + 3, langEnd),
    translatedKeyword: data.toString('utf8', langEnd + 1, transEnd),
  };
}

function chunkKeyword(chunk: PngChunk): string {
  const nul = chunk.data.indexOf(0);
  return chunk.data.toString('latin1', 0, nul < 0 ? chunk.data.length : nul);
}

/** Every text entry of a PNG, in file order. */
export function readPngText(chunks: readonly PngChunk[], file = '<buffer>'): PngTextEntry[] {
  return chunks.filter((c) => TEXT_TYPES.has(c.type)).map((c) => decodeTextChunk(c, file));
}

/** Reads the text entries straight from PNG bytes. */
export function readPngTextFromBytes(bytes: Uint8Array, file = '<buffer>'): PngTextEntry[] {
  return readPngText(parsePngChunks(bytes, { file }), file);
}

/**
 * Encodes one text entry as a chunk: tEXt when asked for or when the text is Latin-1 and uncompressed
 * (the choice Pillow's add_text makes), otherwise iTXt (UTF-8, optionally compressed).
 */
export function encodeTextChunk(entry: PngTextEntry): PngChunk {
  checkPngKeyword(entry.keyword);
  const type = entry.chunkType ?? (isLatin1Text(entry.text) && !entry.compressed && !entry.languageTag && !entry.translatedKeyword ? 'tEXt' : 'iTXt');
  const keyword = Buffer.from(entry.keyword, 'latin1');
  if (type === 'tEXt' || type === 'zTXt') {
    if (!isLatin1Text(entry.text)) throw new RangeError(`${type} chunk '${entry.keyword}' can hold only Latin-1 text; use iTXt`);
    const text = Buffer.from(entry.text, 'latin1');
    const data = type === 'tEXt' ? Buffer.concat([keyword, Buffer.of(0), text]) : Buffer.concat([keyword, Buffer.of(0, 0), deflateSync(text, { level: 9 })]);
    return { type, data };
  }
  const languageTag = entry.languageTag ?? '';
  if (!/^[A-Za-z0-9-]*$/.test(languageTag)) throw new RangeError(`invalid iTXt language tag ${JSON.stringify(languageTag)}; expected letters, digits and hyphens (RFC 3066)`);
  if (entry.translatedKeyword?.includes('\0')) throw new RangeError(`iTXt translated keyword of '${entry.keyword}' may not contain NUL`);
  const text = Buffer.from(entry.text, 'utf8');
  const compressed = entry.compressed ?? false;
  const data = Buffer.concat([
    keyword,
    Buffer.of(0, compressed ? 1 : 0, 0),
    Buffer.from(languageTag, 'latin1'),
    Buffer.of(0),
    Buffer.from(entry.translatedKeyword ?? '', 'utf8'),
    Buffer.of(0),
    compressed ? deflateSync(text, { level: 9 }) : text,
  ]);
  return { type: 'iTXt', data };
}

/**
 * Returns the chunks with the given text entries inserted just before the first IDAT (after IHDR, PLTE
 * and the other header chunks). Existing text chunks with the same keywords are removed, so re-stamping a
 * file replaces its metadata instead of duplicating it.
 */
export function insertTextChunks(chunks: readonly PngChunk[], entries: readonly PngTextEntry[], file = '<buffer>'): PngChunk[] {
  const replaced = new Set(entries.map((e) => e.keyword));
  const kept = chunks.filter((c) => !TEXT_TYPES.has(c.type) || !replaced.has(chunkKeyword(c)));
  const at = kept.findIndex((c) => c.type === 'IDAT');
  if (at < 0) throw new InputError('PNG has no IDAT chunk', file);
  return [...kept.slice(0, at), ...entries.map(encodeTextChunk), ...kept.slice(at)];
}

/** Inserts text entries into PNG bytes (see insertTextChunks). */
export function insertPngText(png: Uint8Array, entries: readonly PngTextEntry[], file = '<buffer>'): Buffer {
  return encodePngChunks(insertTextChunks(parsePngChunks(png, { file }), entries, file));
}
