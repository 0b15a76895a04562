// "Did you mean …?" suggestions: the closest allowed word by optimal-string-alignment distance
// (Levenshtein plus adjacent transpositions, so 'smapler' is one edit from 'sampler').

/** Edit distance with insertions, deletions, substitutions and adjacent transpositions, each costing 1. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[(i - 1) * cols + j] + 1, d[i * cols + j - 1] + 1, d[(i - 1) * cols + j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[(i - 2) * cols + j - 2] + 1);
      }
      d[i * cols + j] = best;
    }
  }
  return d[rows * cols - 1];
}

/**
 * The allowed word closest to `word` (case-insensitive), or undefined when none is close enough to be a
 * plausible typo: at most a third of the word's length in edits (at least one).
 */
export function didYouMean(word: string, allowed: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  const budget = Math.max(1, Math.floor(lower.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (bestDistance <= budget) return best;
  // A truncated word ('dpm' for 'dpmpp_2m') is far in edits but obvious; suggest a unique completion.
  if (lower.length >= 3) {
    const completions = allowed.filter((c) => c.toLowerCase().startsWith(lower));
    if (completions.length === 1) return completions[0];
  }
  return undefined;
}

/** `; did you mean 'x'? allowed: a, b, c` or `; allowed: a, b, c`. */
export function suggestionSuffix(word: string, allowed: readonly string[]): string {
  const guess = didYouMean(word, allowed);
  return `${guess === undefined ? ';' : `; did you mean '${guess}'?`} allowed: ${allowed.join(', ')}`;
}
