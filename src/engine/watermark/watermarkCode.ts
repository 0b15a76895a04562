// The watermark's code: the payload (the first 32 bits of the recipe hash) with a CRC-16 that lets a
// detector tell a real payload from noise, and the keyed chip layout of one tile that spreads the 48
// codeword bits and a known sync pattern over the image. Everything is derived from a public key
// string with sha256 in counter mode, so every build lays chips out identically.
import { createHash } from 'node:crypto';

/** Identifies this algorithm and its version in metadata and the C2PA soft-binding assertion. */
export const WATERMARK_ALGORITHM = 'io.imgprompt.watermark.haar-ll2-ss.1';
/** Payload bits: the first 32 bits (8 hex digits) of the recipe hash. */
export const PAYLOAD_BITS = 32;
const CRC_BITS = 16;
export const CODEWORD_BITS = PAYLOAD_BITS + CRC_BITS;

/** Pixels per cell side: every pixel of a cell carries the same chip. */
export const CELL = 4;
/** Cells per tile side; the tile repeats over the image, so a crop keeps whole tiles' worth of chips. */
export const TILE_CELLS = 32;
/** Tile side in pixels. */
export const TILE = CELL * TILE_CELLS;
export const CHIPS = TILE_CELLS * TILE_CELLS;
/** Chips that carry the known sync pattern (the rest carry codeword bits, round robin). */
export const SYNC_CHIPS = 256;

const KEY = 'imgprompt watermark v1 (haar-ll2-ss): public layout key';

/** The chip layout of one tile: where each chip sits and what it means. */
export interface ChipLayout {
  /** Sync chip positions as cell indices (cy * TILE_CELLS + cx) and their ±1 values. */
  readonly syncCells: Int32Array;
  readonly syncValues: Int8Array;
  /** Codeword chip positions, the codeword bit each carries, and its ±1 whitening sign. */
  readonly bitCells: Int32Array;
  readonly bitIndex: Int32Array;
  readonly bitSigns: Int8Array;
}

function keyedBytes(count: number): Uint8Array {
  const out = new Uint8Array(count);
  for (let block = 0, at = 0; at < count; block++) {
    const digest = createHash('sha256').update(`${KEY}#${block}`).digest();
    out.set(digest.subarray(0, Math.min(digest.length, count - at)), at);
    at += digest.length;
  }
  return out;
}

let layout: ChipLayout | undefined;

/** The fixed layout (computed once). */
export function chipLayout(): ChipLayout {
  if (layout) return layout;
  const bytes = keyedBytes(CHIPS * 4 + CHIPS);
  const order = Array.from({ length: CHIPS }, (_, i) => i);
  // Fisher–Yates with 32-bit keyed draws: a fixed, well-mixed permutation of the cells.
  for (let i = CHIPS - 1; i > 0; i--) {
    const r = ((bytes[4 * i] << 24) | (bytes[4 * i + 1] << 16) | (bytes[4 * i + 2] << 8) | bytes[4 * i + 3]) >>> 0;
    const j = r % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const sign = (k: number) => ((bytes[CHIPS * 4 + k] & 1) === 1 ? 1 : -1);
  const bitCount = CHIPS - SYNC_CHIPS;
  layout = {
    syncCells: Int32Array.from(order.slice(0, SYNC_CHIPS)),
    syncValues: Int8Array.from({ length: SYNC_CHIPS }, (_, k) => sign(k)),
    bitCells: Int32Array.from(order.slice(SYNC_CHIPS)),
    bitIndex: Int32Array.from({ length: bitCount }, (_, k) => k % CODEWORD_BITS),
    bitSigns: Int8Array.from({ length: bitCount }, (_, k) => sign(SYNC_CHIPS + k)),
  };
  return layout;
}

/** CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF) of `bytes`. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The payload of a recipe hash: its first 8 hex digits, lowercase. */
export function payloadOfHash(recipeHash: string): string {
  const hex = recipeHash.replace(/^sha256:/, '').slice(0, PAYLOAD_BITS / 4).toLowerCase();
  if (!/^[0-9a-f]{8}$/.test(hex)) throw new RangeError(`a watermark payload needs a hex recipe hash, got '${recipeHash}'`);
  return hex;
}

/** Payload (8 hex digits) → 48 codeword bits: payload MSB first, then its CRC-16. */
export function encodeCodeword(payloadHex: string): Uint8Array {
  if (!/^[0-9a-f]{8}$/i.test(payloadHex)) throw new RangeError(`watermark payload must be 8 hex digits, got '${payloadHex}'`);
  const bytes = Uint8Array.from(payloadHex.match(/../g)!.map((h) => parseInt(h, 16)));
  const crc = crc16(bytes);
  const bits = new Uint8Array(CODEWORD_BITS);
  for (let i = 0; i < PAYLOAD_BITS; i++) bits[i] = (bytes[i >> 3] >> (7 - (i & 7))) & 1;
  for (let i = 0; i < CRC_BITS; i++) bits[PAYLOAD_BITS + i] = (crc >> (CRC_BITS - 1 - i)) & 1;
  return bits;
}

/** 48 codeword bits → the payload when its CRC matches, else undefined. */
export function decodeCodeword(bits: ArrayLike<number>): string | undefined {
  const bytes = new Uint8Array(PAYLOAD_BITS / 8);
  for (let i = 0; i < PAYLOAD_BITS; i++) if (bits[i]) bytes[i >> 3] |= 1 << (7 - (i & 7));
  let crc = 0;
  for (let i = 0; i < CRC_BITS; i++) crc = (crc << 1) | (bits[PAYLOAD_BITS + i] ? 1 : 0);
  if (crc !== crc16(bytes)) return undefined;
  return Buffer.from(bytes).toString('hex');
}
