// The per-set figures of tools/tiny_model/eval.py (score): colour and side accuracies in percent, rounded
// to one decimal the way Python's round() does, so the engine's table reads like results/eval.json.
import { horizontalSide, verticalSide, type JudgeVerdict } from './judge';

/** One evaluation prompt as results/eval_prompts.json stores it. */
export interface EvalItem {
  readonly prompt: string;
  readonly background: string;
  readonly object: string;
  readonly shape: string;
  readonly position: string;
  readonly seed: number;
}

/** The figures eval.py writes per set; null where a set has no qualifying item. */
export interface SetScore {
  readonly n: number;
  readonly background: number | null;
  readonly object_colour: number | null;
  readonly both_colours: number | null;
  readonly left_right: number | null;
  readonly left_right_n: number;
  readonly horizontal_incl_corners: number | null;
  readonly vertical_incl_corners: number | null;
  readonly object_found: number | null;
}

export const SCORE_FIELDS = ['background', 'object_colour', 'both_colours', 'left_right', 'horizontal_incl_corners', 'vertical_incl_corners', 'object_found'] as const;

/** Whether a verdict puts the object on the item's horizontal side; null for positions naming no side. */
export function onHorizontalSide(item: EvalItem, verdict: JudgeVerdict): boolean | null {
  const side = horizontalSide(item.position);
  if (!side) return null;
  return verdict.x !== null && verdict.x < 0.5 === (side === 'left');
}

/** Whether a verdict puts the object on the item's vertical side; null for positions naming no side. */
export function onVerticalSide(item: EvalItem, verdict: JudgeVerdict): boolean | null {
  const side = verticalSide(item.position);
  if (!side) return null;
  return verdict.y !== null && verdict.y < 0.5 === (side === 'top');
}

/** eval.py's score(): verdicts[i] judges the render made for (or, in the control, against) items[i]. */
export function scoreSet(items: readonly EvalItem[], verdicts: readonly JudgeVerdict[]): SetScore {
  if (items.length !== verdicts.length) throw new RangeError(`${items.length} items but ${verdicts.length} verdicts`);
  const bg: boolean[] = [];
  const obj: boolean[] = [];
  const both: boolean[] = [];
  const lr: boolean[] = [];
  const lrAll: boolean[] = [];
  const tb: boolean[] = [];
  items.forEach((item, i) => {
    const v = verdicts[i];
    bg.push(v.background === item.background);
    obj.push(v.object === item.object);
    both.push(bg[i] && obj[i]);
    const h = onHorizontalSide(item, v);
    if (h !== null) {
      lrAll.push(h);
      if (item.position === 'left' || item.position === 'right') lr.push(h);
    }
    const t = onVerticalSide(item, v);
    if (t !== null) tb.push(t);
  });
  return {
    n: items.length,
    background: percent(bg),
    object_colour: percent(obj),
    both_colours: percent(both),
    left_right: percent(lr),
    left_right_n: lr.length,
    horizontal_incl_corners: percent(lrAll),
    vertical_incl_corners: percent(tb),
    object_found: percent(verdicts.map((v) => v.object !== null)),
  };
}

function percent(flags: readonly boolean[]): number | null {
  if (flags.length === 0) return null;
  const hits = flags.filter(Boolean).length;
  return roundLikePython(100 * (hits / flags.length));
}

/**
 * Python's round(x, 1): the exact binary value rounded to one decimal, exact ties to even. toFixed also
 * rounds the exact value but breaks ties upwards; the only exact ties at one decimal are odd multiples of
 * 0.25 (x * 4 odd), e.g. 6.25 → 6.2.
 */
export function roundLikePython(x: number): number {
  const quarters = x * 4;
  if (Number.isInteger(quarters) && quarters % 2 !== 0) {
    const tenths = Math.floor(x * 10);
    return (tenths % 2 === 0 ? tenths : tenths + 1) / 10;
  }
  return Number(x.toFixed(1));
}
