// PNG container codec: splits a PNG file into its chunks (validating signature, lengths and CRC-32 against
// the buffer so a hostile file can neither over-read nor make us allocate beyond its own size) and joins
// chunks back into a file. Follows the PNG specification (ISO/IEC 15948, W3C PNG 3rd ed.), section 5.
// The number of chunks is capped too: an empty chunk costs 12 bytes in the file but an object here.
import { crc32 } from 'node:zlib';
import { InputError } from '../errors';

export const PNG_SIGNATURE: Buffer = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The largest chunk data length the specification allows (2^31 − 1). */
const MAX_CHUNK_LENGTH = 0x7fffffff;

/**
 * The most chunks a PNG may have (2^18). Encoders write image data in IDAT chunks of 8 to 64 KiB (libpng,
 * Pillow), so even a 256 MiB file has a few tens of thousands; more is a file built to exhaust memory.
 */
export const MAX_PNG_CHUNKS = 262_144;

export interface PngChunk {
  /** Four ASCII letters, e.g. `IHDR`, `tEXt`, `IDAT`. */
  type: string;
  /** The chunk data (a view into the parsed buffer; copy it before mutating). */
  data: Buffer;
}

export interface ParsePngOptions {
  /** Named in error messages. */
  file?: string;
  /** Check each chunk's CRC-32 (default true). */
  verifyCrc?: boolean;
}

/** True when the bytes start with the 8-byte PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= PNG_SIGNATURE.length && PNG_SIGNATURE.equals(bytes.subarray(0, PNG_SIGNATURE.length));
}

function isChunkType(bytes: Uint8Array): boolean {
  return bytes.every((b) => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a));
}

/**
 * Splits a PNG file into chunks, from IHDR up to and including IEND (bytes after IEND are ignored, as
 * decoders do). Throws InputError naming the file, the byte offset and the fault.
 */
export function parsePngChunks(bytes: Uint8Array, options: ParsePngOptions = {}): PngChunk[] {
  const file = options.file ?? '<buffer>';
  const verifyCrc = options.verifyCrc ?? true;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (message: string): never => {
    throw new InputError(message, file);
  };
  if (!isPng(buf)) fail('not a PNG file (the 8-byte PNG signature is missing)');

  const chunks: PngChunk[] = [];
  let offset = PNG_SIGNATURE.length;
  for (;;) {
    if (offset + 12 > buf.length) {
      fail(`truncated PNG: chunk header at byte ${offset} runs past the end of the file (${buf.length} bytes) before IEND`);
    }
    const length = buf.readUInt32BE(offset);
    const typeBytes = buf.subarray(offset + 4, offset + 8);
    if (!isChunkType(typeBytes)) {
      fail(`corrupt PNG: invalid chunk type ${JSON.stringify(typeBytes.toString('latin1'))} at byte ${offset + 4}`);
    }
    const type = typeBytes.toString('latin1');
    if (length > MAX_CHUNK_LENGTH) fail(`corrupt PNG: chunk '${type}' at byte ${offset} declares length ${length} (maximum ${MAX_CHUNK_LENGTH})`);
    const end = offset + 12 + length;
    if (end > buf.length) {
      fail(`truncated PNG: chunk '${type}' at byte ${offset} declares ${length} data bytes but only ${Math.max(0, buf.length - offset - 12)} remain`);
    }
    const data = buf.subarray(offset + 8, offset + 8 + length);
    if (verifyCrc) {
      const stored = buf.readUInt32BE(offset + 8 + length);
      const computed = crc32(data, crc32(typeBytes));
      if (stored !== computed) {
        fail(`corrupt PNG: CRC mismatch in chunk '${type}' at byte ${offset} (stored 0x${hex32(stored)}, computed 0x${hex32(computed)})`);
      }
    }
    if (chunks.length === 0 && type !== 'IHDR') fail(`corrupt PNG: the first chunk is '${type}', expected 'IHDR'`);
    if (chunks.length === MAX_PNG_CHUNKS) fail(`PNG has more than ${MAX_PNG_CHUNKS} chunks (chunk '${type}' at byte ${offset}); refusing to read it`);
    chunks.push({ type, data });
    offset = end;
    if (type === 'IEND') return chunks;
  }
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** Serialises one chunk: length, type, data, CRC-32 over type and data. */
export function encodePngChunk(chunk: PngChunk): Buffer {
  if (!/^[A-Za-z]{4}$/.test(chunk.type)) throw new RangeError(`invalid PNG chunk type ${JSON.stringify(chunk.type)}; expected four ASCII letters`);
  if (chunk.data.length > MAX_CHUNK_LENGTH) throw new RangeError(`PNG chunk '${chunk.type}' is too long (${chunk.data.length} bytes)`);
  const out = Buffer.alloc(12 + chunk.data.length);
  out.writeUInt32BE(chunk.data.length, 0);
  out.write(chunk.type, 4, 'latin1');
  chunk.data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(8, 8 + chunk.data.length), crc32(out.subarray(4, 8))), 8 + chunk.data.length);
  return out;
}

/** Joins chunks into a PNG file (signature first). */
export function encodePngChunks(chunks: readonly PngChunk[]): Buffer {
  return Buffer.concat([PNG_SIGNATURE, ...chunks.map(encodePngChunk)]);
}
