// One line saying which recipe change produced a render, for the history strip: the prompt's added and
// removed words, then the other fields (`seed 1234→7`), shortened to fit under a thumbnail.
import { recipeDiff } from '../../engine/editor';

export function changeSummary(before: unknown, after: unknown, maxLength = 80): string {
  if (before === undefined) return 'first render';
  if (after === undefined) return '';
  const parts = recipeDiff(before, after).map((change) => {
    if (change.words) {
      const words = change.words
        .map((w) => ({ kind: w.kind, text: w.text.replace(/^[\s,;.]+|[\s,;.]+$/g, '') }))
        .filter((w) => w.kind !== 'same' && w.text)
        .map((w) => `${w.kind === 'added' ? '+' : '−'}${w.text}`);
      return `${change.field}: ${words.join(' ')}`;
    }
    return `${change.field} ${change.before ?? '∅'}→${change.after ?? '∅'}`;
  });
  if (parts.length === 0) return 'same recipe';
  const line = parts.join('; ');
  return line.length > maxLength ? `${line.slice(0, maxLength - 1)}…` : line;
}
