// The optional visible label burned into a figure ("AI-generated" in a corner) for contexts where the
// image travels without its text and metadata. Drawn with the built-in bitmap font, white on a dark
// translucent box, blended in integer-rounded arithmetic so the bytes follow from the recipe.
import type { RGBImage } from '../image/rgbImage';
import { GLYPH_ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, glyph } from './bitmapFont';

export const LABEL_CORNERS = ['bottom-right', 'bottom-left', 'top-right', 'top-left'] as const;
export type LabelCorner = (typeof LABEL_CORNERS)[number];

/** A label as the recipe records it: every field resolved. */
export interface VisibleLabel {
  readonly text: string;
  readonly corner: LabelCorner;
  /** Text height in pixels (a multiple of the font's 7 rows is drawn: the largest that fits). */
  readonly size: number;
  /** 0–1: how strongly the label covers the pixels under it. */
  readonly opacity: number;
}

export const LABEL_DEFAULTS = { text: 'AI-generated', corner: 'bottom-right' as LabelCorner, opacity: 0.8 };
export const LABEL_LIMITS = { size: { min: 7, max: 512, integer: true }, opacity: { min: 0.05, max: 1 } };
export const MAX_LABEL_LENGTH = 80;

/** True for the values that switch the label off (scene key or setting): `off`, `none`, an empty string, false. */
export function isLabelOff(value: unknown): boolean {
  if (value === false) return true;
  return typeof value === 'string' && ['', 'off', 'none'].includes(value.trim().toLowerCase());
}

/** The default text height for an image: 6% of its shorter side, at least one font pixel per row. */
export function defaultLabelSize(width: number, height: number): number {
  return Math.max(GLYPH_HEIGHT, Math.round(Math.min(width, height) * 0.06));
}

function blend(under: number, over: number, alpha: number): number {
  return Math.round(under + (over - under) * alpha);
}

/** A copy of `image` with `label` drawn in its corner; text that does not fit is cut at the last whole glyph. */
export function drawLabel(image: RGBImage, label: VisibleLabel): RGBImage {
  const { width, height } = image;
  const data = Uint8Array.from(image.data);
  const scale = Math.max(1, Math.floor(label.size / GLYPH_HEIGHT));
  const pad = scale * 2;
  const margin = scale * 2;
  const fit = Math.floor((width - 2 * margin - 2 * pad + scale) / (GLYPH_ADVANCE * scale));
  const text = [...label.text].slice(0, Math.max(0, fit));
  if (text.length === 0) return { data, width, height };
  const boxW = text.length * GLYPH_ADVANCE * scale - scale + 2 * pad;
  const boxH = GLYPH_HEIGHT * scale + 2 * pad;
  if (boxH + 2 * margin > height) return { data, width, height };
  const left = label.corner.endsWith('left') ? margin : width - margin - boxW;
  const top = label.corner.startsWith('top') ? margin : height - margin - boxH;
  const boxAlpha = label.opacity * 0.6;
  for (let y = top; y < top + boxH; y++) {
    for (let x = left; x < left + boxW; x++) {
      const i = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) data[i + c] = blend(data[i + c], 0, boxAlpha);
    }
  }
  for (const [n, char] of text.entries()) {
    const ink = glyph(char);
    const gx = left + pad + n * GLYPH_ADVANCE * scale;
    for (let row = 0; row < GLYPH_HEIGHT; row++) {
      for (let col = 0; col < GLYPH_WIDTH; col++) {
        if (!ink[row * GLYPH_WIDTH + col]) continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const i = ((top + pad + row * scale + dy) * width + gx + col * scale + dx) * 3;
            for (let c = 0; c < 3; c++) data[i + c] = blend(data[i + c], 255, label.opacity);
          }
        }
      }
    }
  }
  return { data, width, height };
}
