// Where a prompt uses a textual-inversion embedding. ComfyUI writes `embedding:NAME` (NAME up to a space,
// comma, colon or bracket; `.safetensors` optional); AUTOMATIC1111 matches the file names of its
// embeddings folder wherever the prompt's tokens spell them, case-insensitively. The bare-name match
// here follows CLIP's pre-tokenization (letter runs, single digits, punctuation runs), so a name matches
// where its tokens would: "easynegative" in "easynegative, blurry" but not in "easynegatives".
// The same rules pick the files at resolve time (what enters the recipe hash) and the token ids at
// encode time, so the two always agree. REF may be a hub reference (hf:, civitai:, AIR), downloaded like
// a model before a render.
import { toByteChars } from '../tokenizer/byteUnicode';
import { clipFragmentTokenizer, type FragmentTokenizer, type PromptTokenizer, type WeightedToken } from './weightedTokens';

export const EMBEDDING_PREFIX = 'embedding:';

/** An embedding a prompt may use, and the text that stands for it. */
export interface EmbeddingName {
  /** What follows `embedding:` (a name, or a path relative to the scene). */
  readonly name: string;
  /** Also matched as a bare word, as A1111 matches the files of its embeddings folder. */
  readonly byName: boolean;
}

/** A piece of prompt text, or a use of the embedding at this index of the list. */
export type EmbeddingPiece = { readonly text: string } | { readonly embedding: number };

type CharClass = 'letter' | 'number' | 'space' | 'other';

function charClass(c: string | undefined): CharClass | undefined {
  if (c === undefined) return undefined;
  if (/\s/u.test(c)) return 'space';
  if (/\p{L}/u.test(c)) return 'letter';
  return /\p{N}/u.test(c) ? 'number' : 'other';
}

/** A bare name at `at` starts and ends where CLIP's pre-tokenization puts token boundaries. */
function onTokenBoundaries(text: string, at: number, length: number): boolean {
  const joins = (inside: CharClass | undefined, outside: CharClass | undefined): boolean =>
    inside !== undefined && inside === outside && (inside === 'letter' || inside === 'other');
  return !joins(charClass(text[at]), charClass(text[at - 1])) && !joins(charClass(text[at + length - 1]), charClass(text[at + length]));
}

const HUB_REF_IN_PROMPT = /^(?:hf:[^\s,:()[\]]+|civitai:\d+|urn:air:[\w.-]+:[\w.-]+:civitai:\d+@\d+)/i;

/** `embedding:REF` at `at` (after a non-word character): REF as written, without trailing dots. */
function explicitRefAt(text: string, at: number): string | undefined {
  if (!text.startsWith(EMBEDDING_PREFIX, at) || /[\p{L}\p{N}_]/u.test(text[at - 1] ?? ' ')) return undefined;
  let end = at + EMBEDDING_PREFIX.length;
  // A hub reference keeps its own colons: embedding:hf:org/name/file.safetensors, embedding:civitai:123,
  // embedding:urn:air:sd1:embedding:civitai:1@2 (a colon after it still starts a weight).
  const hub = HUB_REF_IN_PROMPT.exec(text.slice(end, end + 400));
  if (hub) return hub[0].replace(/\.+$/, '');
  while (end < text.length && !/[\s,:()[\]]/u.test(text[end])) end++;
  const ref = text.slice(at + EMBEDDING_PREFIX.length, end).replace(/\.+$/, '');
  return ref === '' ? undefined : ref;
}

/** Every `embedding:REF` in the text, REF as written, with where it starts and ends (`embedding:` included). */
export function explicitEmbeddingSpans(text: string): { ref: string; start: number; end: number }[] {
  const spans: { ref: string; start: number; end: number }[] = [];
  for (let at = text.indexOf(EMBEDDING_PREFIX); at >= 0; ) {
    const ref = explicitRefAt(text, at);
    const end = ref === undefined ? at + 1 : at + EMBEDDING_PREFIX.length + ref.length;
    if (ref !== undefined) spans.push({ ref, start: at, end });
    // Past the reference: an AIR of type `embedding` holds "embedding:" itself.
    at = text.indexOf(EMBEDDING_PREFIX, end);
  }
  return spans;
}

/** Every `embedding:REF` in the text, REF as written (the prompt's explicit references). */
export function explicitEmbeddingRefs(text: string): string[] {
  return explicitEmbeddingSpans(text).map((s) => s.ref);
}

const withoutExtension = (name: string): string => name.replace(/\.safetensors$/i, '');

/** The text split into plain pieces and uses of `names` (explicit `embedding:` references and bare names). */
export function splitEmbeddingNames(text: string, names: readonly EmbeddingName[]): EmbeddingPiece[] {
  const pieces: EmbeddingPiece[] = [];
  if (names.length === 0) return [{ text }];
  // Longest names first, so "bad-hands-5" wins over "bad".
  const bare = names
    .map((n, index) => ({ lower: n.name.toLowerCase(), index, byName: n.byName }))
    .filter((n) => n.byName && n.lower !== '')
    .sort((a, b) => b.lower.length - a.lower.length);
  let plainFrom = 0;
  let at = 0;
  const use = (index: number, end: number): void => {
    if (at > plainFrom) pieces.push({ text: text.slice(plainFrom, at) });
    pieces.push({ embedding: index });
    plainFrom = at = end;
  };
  while (at < text.length) {
    const ref = explicitRefAt(text, at);
    if (ref !== undefined) {
      const index = names.findIndex(
        (n) => n.name === ref || withoutExtension(n.name) === withoutExtension(ref) || (n.byName && withoutExtension(n.name).toLowerCase() === withoutExtension(ref).toLowerCase()),
      );
      if (index >= 0) {
        use(index, at + EMBEDDING_PREFIX.length + ref.length);
        continue;
      }
    }
    const found = bare.find((n) => text.slice(at, at + n.lower.length).toLowerCase() === n.lower && onTokenBoundaries(text, at, n.lower.length));
    if (found) use(found.index, at + found.lower.length);
    else at++;
  }
  if (plainFrom < text.length || pieces.length === 0) pieces.push({ text: text.slice(plainFrom) });
  return pieces;
}

/** Whether the text uses any of `names`. */
export function usesEmbeddings(text: string, names: readonly EmbeddingName[]): boolean {
  return splitEmbeddingNames(text, names).some((p) => 'embedding' in p);
}

/** An embedding with the token ids its vectors were given in the text encoder's extended table. */
export interface EmbeddingTokens extends EmbeddingName {
  readonly ids: readonly number[];
}

/**
 * A fragment tokenizer that puts an embedding's token ids (one per vector, each with the fragment's
 * weight) where the text uses it, and tokenizes the rest with CLIP.
 */
export function embeddingFragmentTokenizer(tokenizer: PromptTokenizer, embeddings: readonly EmbeddingTokens[]): FragmentTokenizer {
  const clip = clipFragmentTokenizer(tokenizer);
  return (text, weight) =>
    splitEmbeddingNames(text, embeddings).flatMap((piece): WeightedToken[] => {
      if ('text' in piece) return clip(piece.text, weight);
      const e = embeddings[piece.embedding];
      // Reported as one word when truncation drops it.
      return e.ids.map((id, i) => (i === 0 ? { id, weight, text: `${toByteChars(`${EMBEDDING_PREFIX}${e.name}`)}</w>`, together: e.ids.length } : { id, weight, text: '' }));
    });
}
