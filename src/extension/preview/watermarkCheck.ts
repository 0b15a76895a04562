// The provenance panel's watermark row: the pixels are decoded and searched in the render worker (a
// second or so for a large image, which must not stall the editor), and the finding is said in one
// sentence against what the metadata records. A panel refresh of an unchanged file reuses the answer.
import { stat } from 'node:fs/promises';
import type { ImageMetadataReport, WatermarkFinding } from '../../engine/editor';

/** Searches a file's pixels (RenderWorkerClient.detectWatermark through the render queue). */
export type WatermarkSearch = (file: string) => Promise<WatermarkFinding>;

/** The finding, or why there is none: `unreadable` (not an image: no row), `unavailable` (no worker: say so). */
export type WatermarkCheck = { readonly found: WatermarkFinding } | { readonly unreadable: true } | { readonly unavailable: string };

export async function watermarkInFile(file: string, search: WatermarkSearch): Promise<WatermarkCheck> {
  const stamp = await stat(file).then((s) => `${s.size}:${s.mtimeMs}`, () => undefined);
  const known = stamp === undefined ? undefined : detections.get(file);
  if (known && known.stamp === stamp) return known.check;
  let check: WatermarkCheck;
  try {
    check = { found: await search(file) };
  } catch (error) {
    // The worker refuses what is not a decodable image; no worker (Restricted Mode), a crashed or a shut-down
    // one is said as it is, and not remembered: the next refresh asks again.
    const message = error instanceof Error ? error.message : String(error);
    if (/not an image that can be decoded|cannot read the image/.test(message)) check = { unreadable: true };
    else return { unavailable: message };
  }
  if (stamp !== undefined) {
    if (detections.size >= 64) detections.delete(detections.keys().next().value as string);
    detections.set(file, { stamp, check });
  }
  return check;
}

const detections = new Map<string, { stamp: string; check: WatermarkCheck }>();

/** The row's value, or undefined for no row. */
export function watermarkRow(check: WatermarkCheck, provenance: ImageMetadataReport['provenance']): string | undefined {
  if ('found' in check) return describeWatermarkFinding(check.found, provenance);
  return 'unavailable' in check ? `not read: ${check.unavailable}` : undefined;
}

/** The panel's "Watermark in the pixels" row. */
export function describeWatermarkFinding(found: WatermarkFinding, provenance: ImageMetadataReport['provenance']): string {
  const recorded = provenance.watermark?.payload;
  const expected = provenance.recipeHash?.replace(/^sha256:/, '').slice(0, 8);
  if (!found.detected) return recorded ? `not found, though the recipe says the pixels carry ${recorded}: the image was changed after rendering` : 'none found';
  if (expected && found.payload === expected) return `present: ${found.payload}, the recipe hash's first 32 bits`;
  if (expected) return `present: ${found.payload}, which is NOT this recipe's hash (the pixels come from another render)`;
  return `present: ${found.payload}, the first 32 bits of the recipe hash of the imgprompt render it came from`;
}
