// A word diff of two prompts (longest common subsequence over words), so the recipe diff can show
// "added `soft shadows`, removed `flat`" instead of two long lines. Whitespace and commas are kept as
// their own tokens so the segments join back into exactly the original texts.

export interface WordDiffSegment {
  readonly kind: 'same' | 'added' | 'removed';
  readonly text: string;
}

/** Words, runs of whitespace and single punctuation marks, in order; joined they give `text` back. */
export function tokenizeWords(text: string): string[] {
  return text.match(/\s+|[^\s,.;:()[\]{}|]+|[,.;:()[\]{}|]/g) ?? [];
}

// Beyond this many tokens a side the quadratic table is not worth it: show a whole-text replacement.
const MAX_TOKENS = 4000;

/** Segments that turn `before` into `after`: `same` + `removed` joined give `before`, `same` + `added` give `after`. */
export function wordDiff(before: string, after: string): WordDiffSegment[] {
  const a = tokenizeWords(before);
  const b = tokenizeWords(after);
  if (a.length > MAX_TOKENS || b.length > MAX_TOKENS) {
    return [
      ...(before ? [{ kind: 'removed' as const, text: before }] : []),
      ...(after ? [{ kind: 'added' as const, text: after }] : []),
    ];
  }
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const width = b.length + 1;
  const lcs = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i * width + j] = a[i] === b[j] ? lcs[(i + 1) * width + j + 1] + 1 : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
    }
  }
  const out: WordDiffSegment[] = [];
  const push = (kind: WordDiffSegment['kind'], text: string): void => {
    const last = out[out.length - 1];
    if (last?.kind === kind) out[out.length - 1] = { kind, text: last.text + text };
    else out.push({ kind, text });
  };
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      push('same', a[i]);
      i++;
      j++;
    } else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) push('removed', a[i++]);
    else push('added', b[j++]);
  }
  while (i < a.length) push('removed', a[i++]);
  while (j < b.length) push('added', b[j++]);
  return out;
}
