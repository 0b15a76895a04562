// Caps on the foreign metadata the interop readers parse (PNG text from other tools or other people). Every
// reader is linear in its input; these caps bound the input, the structures built from it and the walks
// over them, so a hostile PNG costs milliseconds, never seconds, even on the extension host's thread.
// The PNG-level caps live with the PNG readers: MAX_PNG_CHUNKS (output/pngChunks.ts), MAX_TEXT_CHUNKS and
// MAX_INFLATED_TEXT_BYTES per file (output/pngText.ts), MAX_XMP_CHARS (output/xmpPacket.ts).
import { InputError } from '../errors';

export const METADATA_LIMITS = {
  /** Longest JSON text (ComfyUI prompt and workflow, InvokeAI, our recipe), in characters. */
  jsonChars: 8 * 1024 * 1024,
  /** Deepest JSON nesting (ComfyUI workflows nest about ten levels). */
  jsonDepth: 128,
  /** Most JSON values (objects, arrays, members, elements) in one text. */
  jsonValues: 1_000_000,
  /** Longest integer literal kept exact as a bigint, in digits (a 64-bit seed has 20). */
  jsonIntegerDigits: 1000,
  /** Longest AUTOMATIC1111 infotext, in characters (real ones are a few KiB). */
  infotextChars: 1024 * 1024,
  /** Most nodes in a ComfyUI graph (large real workflows have a few hundred). */
  comfyNodes: 20_000,
  /** Most links in a ComfyUI UI workflow. */
  comfyLinks: 100_000,
  /** Most digits in a seed written as text (2^64 − 1 has 20). */
  seedDigits: 40,
} as const;

/** Throws InputError when `text` is longer than `limit` characters; `what` names it ("XMP packet"). */
export function checkTextLength(text: string, limit: number, what: string): void {
  if (text.length > limit) throw new InputError(`${what} is ${text.length} characters long, over the ${limit} it may have`);
}
