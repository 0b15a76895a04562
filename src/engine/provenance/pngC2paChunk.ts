// Where C2PA lives in a PNG and what the byte-identical promise covers. c2pa-rs embeds the manifest
// store in a `caBX` chunk before the first IDAT. Every C2PA claim carries fresh random salts in its
// assertion boxes (c2pa-rs gives no way to turn them off), so two signatures of the same figure differ in
// that chunk even with a deterministic Ed25519 key and no timestamp. The promise therefore reads: the
// same recipe on the same machine gives the same PNG byte for byte outside the `caBX` chunk, and the
// manifest in it makes the same statements (same claim label, assertions, ingredients and signer).
// FigureProvenance keeps a figure's existing manifest when it states exactly that, so re-rendering over
// a figure leaves the file byte-identical.
import { createHash } from 'node:crypto';
import { encodePngChunks, parsePngChunks } from '../output/pngChunks';

/** The PNG chunk type c2pa-rs writes the JUMBF manifest store into. */
export const C2PA_PNG_CHUNK = 'caBX';

/** sha256 (hex) of the concatenated IDAT data: the image as encoded. */
export function idatSha256(png: Uint8Array): string {
  const hash = createHash('sha256');
  for (const chunk of parsePngChunks(png, { verifyCrc: false })) if (chunk.type === 'IDAT') hash.update(chunk.data);
  return hash.digest('hex');
}

/** True when the PNG carries a C2PA manifest store. */
export function hasC2paChunk(png: Uint8Array): boolean {
  return parsePngChunks(png, { verifyCrc: false }).some((c) => c.type === C2PA_PNG_CHUNK);
}

/** The PNG without its C2PA chunk: the bytes the byte-identical regeneration promise covers. */
export function withoutC2paChunk(png: Uint8Array): Buffer {
  return encodePngChunks(parsePngChunks(png).filter((c) => c.type !== C2PA_PNG_CHUNK));
}
