// The marks a render's pixels receive before encoding, as its portable recipe records them: the
// invisible watermark (payload = the recipe hash's first 32 bits) unless the scene says `watermark: off`.
import type { RGBImage } from '../image/rgbImage';
import { embedWatermark } from './embedWatermark';
import { WATERMARK_ALGORITHM } from './watermarkCode';

export interface RecordedMarks {
  readonly watermark?: { readonly algorithm: string; readonly payload: string };
}

/** `image` with the marks `metadata` records (the same image when none). */
export function markImage(image: RGBImage, metadata: RecordedMarks): RGBImage {
  const { watermark } = metadata;
  if (!watermark) return image;
  if (watermark.algorithm !== WATERMARK_ALGORITHM) throw new RangeError(`unknown watermark algorithm '${watermark.algorithm}' (this engine writes ${WATERMARK_ALGORITHM})`);
  return embedWatermark(image, watermark.payload);
}
