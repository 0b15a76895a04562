// The deterministic pixel judge of tools/tiny_model/judge.py, ported rule for rule so the engine's renders
// of the tiny-shapes model are scored exactly like the PyTorch ones: every pixel takes the nearest of the
// eight palette colours; the background is the most common of them on the 2-pixel border; object pixels
// are the non-background pixels within 60 RGB units of their palette colour; the object colour is the
// most common of those; its position is the centroid of every pixel of that colour. Ties go to the
// earlier palette colour (numpy's argmin / argmax).
import type { RGBImage } from '../../src/engine/index';

/** The training palette of tools/tiny_model/scenes.py (COLOURS), in its order. */
export const PALETTE: readonly { readonly name: string; readonly rgb: readonly [number, number, number] }[] = [
  { name: 'red', rgb: [220, 40, 40] },
  { name: 'green', rgb: [40, 170, 60] },
  { name: 'blue', rgb: [40, 80, 220] },
  { name: 'yellow', rgb: [245, 215, 40] },
  { name: 'purple', rgb: [140, 60, 180] },
  { name: 'orange', rgb: [245, 140, 30] },
  { name: 'white', rgb: [245, 245, 245] },
  { name: 'black', rgb: [20, 20, 20] },
];

export const MAX_DISTANCE = 60;
export const MIN_OBJECT_FRACTION = 0.005;
const BORDER = 2;

export interface JudgeVerdict {
  readonly background: string;
  /** null when fewer than 0.5% of the pixels are object pixels. */
  readonly object: string | null;
  /** Centroid of the object colour as fractions of width / height (pixel centres at (i + 0.5) / size). */
  readonly x: number | null;
  readonly y: number | null;
}

/** The verdict on one 8-bit RGB image (at least 1x1). */
export function judgeImage(image: RGBImage): JudgeVerdict {
  const { width: w, height: h, data } = image;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) throw new RangeError(`image size must be positive integers, got ${w}x${h}`);
  if (data.length !== w * h * 3) throw new RangeError(`image data holds ${data.length} bytes, expected ${w * h * 3} for ${w}x${h} RGB`);
  const n = w * h;
  const nearest = new Uint8Array(n);
  const nearOk = new Uint8Array(n);
  // Squared distances of 8-bit values are exact integers, so comparing them decides exactly what
  // numpy's float32 norms decide (sqrt is monotonic and exact at 60² = 3600).
  const maxSquared = MAX_DISTANCE * MAX_DISTANCE;
  for (let p = 0; p < n; p++) {
    const r = data[3 * p];
    const g = data[3 * p + 1];
    const b = data[3 * p + 2];
    let best = 0;
    let bestSquared = Infinity;
    for (let c = 0; c < PALETTE.length; c++) {
      const [pr, pg, pb] = PALETTE[c].rgb;
      const d = (r - pr) ** 2 + (g - pg) ** 2 + (b - pb) ** 2;
      if (d < bestSquared) {
        bestSquared = d;
        best = c;
      }
    }
    nearest[p] = best;
    nearOk[p] = bestSquared <= maxSquared ? 1 : 0;
  }

  // The border as judge.py concatenates it: top and bottom rows, then left and right columns (corners
  // counted twice, as there).
  const borderCounts = new Array<number>(PALETTE.length).fill(0);
  const rows = Math.min(BORDER, h);
  const cols = Math.min(BORDER, w);
  for (let y = 0; y < rows; y++) for (let x = 0; x < w; x++) borderCounts[nearest[y * w + x]]++;
  for (let y = h - rows; y < h; y++) for (let x = 0; x < w; x++) borderCounts[nearest[y * w + x]]++;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < cols; x++) borderCounts[nearest[y * w + x]]++;
    for (let x = w - cols; x < w; x++) borderCounts[nearest[y * w + x]]++;
  }
  const bg = argmax(borderCounts);
  const background = PALETTE[bg].name;

  const objectCounts = new Array<number>(PALETTE.length).fill(0);
  let objectPixels = 0;
  for (let p = 0; p < n; p++) {
    if (nearest[p] !== bg && nearOk[p]) {
      objectCounts[nearest[p]]++;
      objectPixels++;
    }
  }
  if (objectPixels < MIN_OBJECT_FRACTION * n) return { background, object: null, x: null, y: null };
  const obj = argmax(objectCounts);
  let sumX = 0;
  let sumY = 0;
  let count = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (nearest[y * w + x] === obj) {
        sumX += x;
        sumY += y;
        count++;
      }
    }
  }
  return { background, object: PALETTE[obj].name, x: (sumX / count + 0.5) / w, y: (sumY / count + 0.5) / h };
}

/** 'left' / 'right' for positions naming a side (corners included), else null (judge.horizontal_side). */
/** Whether two verdicts agree on background, object colour and the object's sides of the centre. */
export function sameVerdict(a: JudgeVerdict, b: JudgeVerdict): boolean {
  const side = (v: number | null) => (v === null ? null : v < 0.5);
  return a.background === b.background && a.object === b.object && side(a.x) === side(b.x) && side(a.y) === side(b.y);
}

export function horizontalSide(position: string): 'left' | 'right' | null {
  return position.includes('left') ? 'left' : position.includes('right') ? 'right' : null;
}

/** 'top' / 'bottom' for positions naming one (corners included), else null (judge.vertical_side). */
export function verticalSide(position: string): 'top' | 'bottom' | null {
  return position.includes('top') ? 'top' : position.includes('bottom') ? 'bottom' : null;
}

/** Index of the first maximum, as numpy's argmax. */
function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}
