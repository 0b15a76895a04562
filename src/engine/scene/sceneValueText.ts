// Small text helpers of the scene reader (sceneReader.ts): how numeric limits are worded in messages,
// and the `W:H` form of an aspect ratio.
import type { NumberLimits } from './sceneSpec';

/** `an integer from 1 to 1000`, `a number greater than 0 and at most 64`. */
export function formatLimits(l: NumberLimits): string {
  const kind = l.integer ? 'an integer' : 'a number';
  return l.exclusiveMin ? `${kind} greater than ${l.min} and at most ${l.max}` : `${kind} from ${l.min} to ${l.max}`;
}

/** `16:9` → 16/9; undefined when the text is not two positive numbers around a colon. */
export function parseAspect(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$/.exec(text);
  if (!m) return undefined;
  const w = Number(m[1]);
  const h = Number(m[2]);
  return w > 0 && h > 0 ? w / h : undefined;
}
