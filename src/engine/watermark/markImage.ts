// The marks a render's pixels receive before encoding, as its portable recipe records them: the
// visible label when the scene asks for one, then the invisible watermark (payload = the recipe hash's
// first 32 bits) unless the scene says `watermark: off`.
import type { RGBImage } from '../image/rgbImage';
import { embedWatermark } from './embedWatermark';
import { WATERMARK_ALGORITHM } from './watermarkCode';
import { drawLabel, type VisibleLabel } from './visibleLabel';

export interface RecordedMarks {
  /** The visible label, drawn first so the watermark covers it too. */
  readonly label?: VisibleLabel;
  readonly watermark?: { readonly algorithm: string; readonly payload: string };
}

/** `image` with the marks `metadata` records (the same image when none). */
export function markImage(image: RGBImage, metadata: RecordedMarks): RGBImage {
  const { watermark, label } = metadata;
  const labelled = label ? drawLabel(image, label) : image;
  if (!watermark) return labelled;
  if (watermark.algorithm !== WATERMARK_ALGORITHM) throw new RangeError(`unknown watermark algorithm '${watermark.algorithm}' (this engine writes ${WATERMARK_ALGORITHM})`);
  return embedWatermark(labelled, watermark.payload);
}
