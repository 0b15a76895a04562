// The facts a C2PA manifest records about the watermark: a `c2pa.soft-binding` assertion (C2PA
// Technical Specification, "Soft binding": `alg`, `blocks` of {scope, value}, optional `name` and
// `alg_params`, and `pad`), so a reader that finds the watermark in pixels stripped of their manifest can
// look the manifest up again. Built here; the C2PA writer adds it to the assertions it signs.
import { CELL, PAYLOAD_BITS, TILE, WATERMARK_ALGORITHM } from './watermarkCode';
import { WATERMARK_STRENGTH } from './embedWatermark';

export const SOFT_BINDING_LABEL = 'c2pa.soft-binding';

export interface SoftBindingBlock {
  /** Where in the asset the value applies: an empty scope is the whole image. */
  readonly scope: Readonly<Record<string, never>>;
  /** Algorithm-specific: here the base64 of the payload's 4 bytes (the recipe hash's first 32 bits). */
  readonly value: string;
}

export interface SoftBindingAssertion {
  readonly alg: string;
  readonly blocks: readonly SoftBindingBlock[];
  readonly name: string;
  readonly alg_params: string;
  /** Zero-filled padding the specification reserves (empty: nothing to reserve). */
  readonly pad: Uint8Array;
}

/**
 * The `c2pa.soft-binding` assertion for a watermark payload (8 hex digits, as the recipe records it).
 * `alg` is this engine's identifier; it is not (yet) in the C2PA soft-binding algorithm list, which a
 * reader should know before using it to query a manifest repository.
 */
export function watermarkSoftBinding(payloadHex: string): { label: typeof SOFT_BINDING_LABEL; data: SoftBindingAssertion } {
  if (!/^[0-9a-f]{8}$/i.test(payloadHex)) throw new RangeError(`watermark payload must be 8 hex digits, got '${payloadHex}'`);
  return {
    label: SOFT_BINDING_LABEL,
    data: {
      alg: WATERMARK_ALGORITHM,
      blocks: [{ scope: {}, value: Buffer.from(payloadHex, 'hex').toString('base64') }],
      name: `imgprompt invisible watermark: the first ${PAYLOAD_BITS} bits of the recipe hash`,
      alg_params: `luma Haar LL2 spread spectrum; tile ${TILE}px, cell ${CELL}px, strength ${WATERMARK_STRENGTH}; payload ${payloadHex.toLowerCase()} + CRC-16/CCITT-FALSE`,
      pad: new Uint8Array(0),
    },
  };
}
