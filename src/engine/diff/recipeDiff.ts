// The recipe diff the preview shows beside an image diff: every pixel-affecting field that differs
// between two stored recipes (from recipeChanges), with prompts broken down as word diffs.
import { recipeChanges, type RecipeChange } from '../scene/recipeChanges';
import { wordDiff, type WordDiffSegment } from './wordDiff';

export interface RecipeFieldDiff extends RecipeChange {
  /** For the prompt and negative prompt: the change word by word. */
  readonly words?: readonly WordDiffSegment[];
}

const TEXT_FIELDS = new Set(['prompt', 'negative']);

/** Field-by-field differences from `before` to `after` (recipes as stored in PNGs); empty when equal. */
export function recipeDiff(before: unknown, after: unknown): RecipeFieldDiff[] {
  return recipeChanges(before, after).map((change) =>
    TEXT_FIELDS.has(change.field) ? { ...change, words: wordDiff(change.before ?? '', change.after ?? '') } : change,
  );
}
