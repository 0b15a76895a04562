// PNG text chunks: reading tEXt, zTXt and iTXt (compressed or not) and writing tEXt and iTXt, then
// inserting them into an encoded PNG before its first IDAT. Layouts follow the PNG specification
// (W3C PNG 3rd ed., 11.3.3). Decompression is capped per file, not per chunk (an InflateBudget shared by
// the chunks of one file), and so is the number of text chunks, so many small hostile chunks cannot add
// up to gigabytes.
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

/**
 * The most bytes the compressed text chunks (zTXt, compressed iTXt) of one PNG may inflate to, in total
 * (a decompression bomb guard). Real metadata is kilobytes; the largest ComfyUI workflows are a few MiB.
 */
export const MAX_INFLATED_TEXT_BYTES = 8 * 1024 * 1024;

/** The most text chunks (tEXt, zTXt, iTXt) one PNG may have. Real files have one to a dozen. */
export const MAX_TEXT_CHUNKS = 1024;

/** What is left of one file's inflate allowance; pass the same budget for every chunk of a file. */
export interface InflateBudget {
  /** Bytes the file's compressed text chunks may still inflate to. */
  remaining: number;
}

/** A fresh budget for one file: MAX_INFLATED_TEXT_BYTES in total. */
export function inflateBudget(): InflateBudget {
  return { remaining: MAX_INFLATED_TEXT_BYTES };
}

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

/** The error when a chunk would take the file past its inflate allowance. */
export class InflateCapError extends InputError {}

function inflateText(data: Buffer, where: string, file: string, budget: InflateBudget): Buffer {
  let text: Buffer | undefined;
  try {
    // zlib stops as soon as the output passes the limit (RangeError), so a bomb costs at most the budget.
    text = inflateSync(data, { maxOutputLength: Math.max(1, budget.remaining) });
  } catch (error) {
    if (!(error instanceof RangeError)) throw new InputError(`${where} holds corrupt compressed data`, file);
  }
  if (text === undefined || text.length > budget.remaining) {
    budget.remaining = 0;
    throw new InflateCapError(`${where} inflates past the ${MAX_INFLATED_TEXT_BYTES} bytes in total that a PNG's compressed text chunks may hold`, file);
  }
  budget.remaining -= text.length;
  return text;
}

/** True for a zTXt or compressed iTXt chunk (the ones that inflate). */
export function isCompressedTextChunk(chunk: PngChunk): boolean {
  if (chunk.type === 'zTXt') return true;
  if (chunk.type !== 'iTXt') return false;
  const nul = chunk.data.indexOf(0);
  return nul >= 0 && chunk.data[nul + 1] === 1;
}

/**
 * Decodes one tEXt, zTXt or iTXt chunk. Throws InputError for a malformed one, and InflateCapError when
 * its text would take the file past its inflate budget (a fresh one per call unless given: pass one budget
 * for all the chunks of a file).
 */
export function decodeTextChunk(chunk: PngChunk, file = '<buffer>', budget: InflateBudget = inflateBudget()): PngTextEntry {
  const { type, data } = chunk;
  if (!TEXT_TYPES.has(type)) throw new RangeError(`not a text chunk: '${type}'`);
  const nul = data.indexOf(0);
  if (nul < 1 || nul > 79) throw new InputError(`malformed ${type} chunk: keyword missing or longer than 79 bytes`, file);
  const keyword = data.toString('latin1', 0, nul);
  const where = `${type} chunk '${keyword}'`;
  if (type === 'tEXt') return { chunkType: 'tEXt', keyword, text: data.toString('latin1', nul + 1), compressed: false };
  if (type === 'zTXt') {
    if (nul + 2 > data.length || data[nul + 1] !== 0) throw new InputError(`malformed ${where}: unknown compression method`, file);
    return { chunkType: 'zTXt', keyword, text: inflateText(data.subarray(nul + 2), where, file, budget).toString('latin1'), compressed: true };
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
    text: (compressed ? inflateText(body, where, file, budget) : body).toString('utf8'),
    compressed,
    languageTag: data.toString('latin1', nul + 3, langEnd),
    translatedKeyword: data.toString('utf8', langEnd + 1, transEnd),
  };
}

function chunkKeyword(chunk: PngChunk): string {
  const nul = chunk.data.indexOf(0);
  return chunk.data.toString('latin1', 0, nul < 0 ? chunk.data.length : nul);
}

/** True for a tEXt, zTXt or iTXt chunk. */
export function isTextChunk(chunk: PngChunk): boolean {
  return TEXT_TYPES.has(chunk.type);
}

/**
 * Every text entry of a PNG, in file order. Throws InputError for a malformed chunk, for more than
 * MAX_TEXT_CHUNKS text chunks, or when the compressed ones inflate past MAX_INFLATED_TEXT_BYTES in total.
 */
export function readPngText(chunks: readonly PngChunk[], file = '<buffer>'): PngTextEntry[] {
  const textChunks = chunks.filter(isTextChunk);
  if (textChunks.length > MAX_TEXT_CHUNKS) throw new InputError(`more than ${MAX_TEXT_CHUNKS} text chunks (${textChunks.length}); refusing to read them`, file);
  const budget = inflateBudget();
  return textChunks.map((c) => decodeTextChunk(c, file, budget));
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
