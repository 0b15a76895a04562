// Reads the invisible watermark from an image's pixels for the provenance panel (sharp is loaded lazily,
// as for image diffs, so activation stays light) and says in one sentence what it found against what
// the metadata records.
import { stat } from 'node:fs/promises';
import { detectWatermark, type ImageMetadataReport, type WatermarkDetection } from '../../engine/editor';

export async function watermarkInFile(file: string): Promise<WatermarkDetection | undefined> {
  // Detection decodes and searches the whole image: a panel refresh of an unchanged file reuses the answer.
  const stamp = await stat(file).then((s) => `${s.size}:${s.mtimeMs}`, () => undefined);
  const known = stamp === undefined ? undefined : detections.get(file);
  if (known && known.stamp === stamp) return known.found;
  const found = await detectInFile(file);
  if (stamp !== undefined) {
    if (detections.size >= 64) detections.delete(detections.keys().next().value as string);
    detections.set(file, { stamp, found });
  }
  return found;
}

const detections = new Map<string, { stamp: string; found: WatermarkDetection | undefined }>();

async function detectInFile(file: string): Promise<WatermarkDetection | undefined> {
  try {
    const { default: sharp } = await import('sharp');
    const { data, info } = await sharp(file).rotate().flatten({ background: '#ffffff' }).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return detectWatermark({ data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height });
  } catch {
    return undefined; // an image sharp cannot decode has no watermark row; the metadata rows still show
  }
}

/** The panel's "Watermark in the pixels" row. */
export function describeWatermarkFinding(found: WatermarkDetection, provenance: ImageMetadataReport['provenance']): string {
  const recorded = provenance.watermark?.payload;
  const expected = provenance.recipeHash?.replace(/^sha256:/, '').slice(0, 8);
  if (!found.detected) return recorded ? `not found, though the recipe says the pixels carry ${recorded}: the image was changed after rendering` : 'none found';
  if (expected && found.payload === expected) return `present: ${found.payload}, the recipe hash's first 32 bits`;
  if (expected) return `present: ${found.payload}, which is NOT this recipe's hash (the pixels come from another render)`;
  return `present: ${found.payload}, the first 32 bits of the recipe hash of the imgprompt render it came from`;
}
