// Prompt fragments → the text encoder's input with one weight per token. As A1111 does
// (sd_hijack_clip.tokenize_line), each fragment is tokenized on its own and every token it yields — all
// the BPE pieces of a split word — carries the fragment's weight; BOS, EOS and padding carry 1.
// The engine conditions on one context window (BOS + 75 tokens + EOS for CLIP): that is A1111's first
// chunk. Tokens past it, and everything after a BREAK or an embedding that does not fit whole (each
// starts A1111's next chunk), are dropped and reported, as a long prompt's tail is today.
import { fromByteChars } from '../tokenizer/byteUnicode';
import { isBreak, type PromptFragment } from './promptAttention';

/** What this needs from a CLIP tokenizer. */
export interface PromptTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly maxLength: number;
  /** BPE tokens of a text, after CLIP's clean-up. */
  tokenize(text: string): string[];
  /** Vocabulary ids of the same tokens, in the same order. */
  encode(text: string): number[];
}

/** One prompt token: its id, its text (for warnings) and its weight. */
export interface WeightedToken {
  readonly id: number;
  readonly text: string;
  readonly weight: number;
  /** On the first token of an embedding: how many tokens must stay in one chunk with it. */
  readonly together?: number;
}

/**
 * Maps a fragment's text to tokens. The default tokenizes with the CLIP tokenizer; a textual-inversion
 * vocabulary substitutes its own token ids for the embedding names it knows.
 */
export type FragmentTokenizer = (text: string, weight: number) => WeightedToken[];

export interface WeightedTokens {
  /** BOS, the prompt's ids, EOS, then padding: exactly maxLength ids. */
  readonly ids: readonly number[];
  /** One weight per id (1 for BOS, EOS and padding). */
  readonly weights: readonly number[];
  /** Prompt tokens before truncation (without BOS/EOS). */
  readonly tokenCount: number;
  readonly truncated: boolean;
  /** The text of what was cut ('' when nothing was). */
  readonly droppedText: string;
}

/** The default fragment tokenizer: CLIP's BPE, every piece with the fragment's weight. */
export function clipFragmentTokenizer(tokenizer: PromptTokenizer): FragmentTokenizer {
  return (text, weight) => {
    const texts = tokenizer.tokenize(text);
    const ids = tokenizer.encode(text);
    if (ids.length !== texts.length) throw new Error(`tokenizer gave ${ids.length} ids for ${texts.length} tokens of ${JSON.stringify(text)}`);
    return ids.map((id, i) => ({ id, text: texts[i], weight }));
  };
}

/** Text of BPE tokens as CLIP decodes it: byte characters back to UTF-8, word ends become spaces. */
export function tokensText(tokens: readonly string[]): string {
  return fromByteChars(tokens.join('')).replaceAll('</w>', ' ').replace(/ +/g, ' ').trim();
}

/** The weighted model input for parsed prompt fragments, in one context window of `tokenizer.maxLength`. */
export function weightedPromptTokens(
  fragments: readonly PromptFragment[],
  tokenizer: PromptTokenizer,
  tokenizeFragment: FragmentTokenizer = clipFragmentTokenizer(tokenizer),
): WeightedTokens {
  const room = tokenizer.maxLength - 2;
  const kept: WeightedToken[] = [];
  const dropped: string[] = [];
  let tokenCount = 0;
  let chunkEnded = false;
  for (const fragment of fragments) {
    if (isBreak(fragment)) {
      chunkEnded = true;
      dropped.push('BREAK</w>');
      continue;
    }
    for (const token of tokenizeFragment(fragment.text, fragment.weight)) {
      tokenCount++;
      // An embedding that does not fit whole starts A1111's next chunk, as BREAK does.
      if ((token.together ?? 1) > room - kept.length) chunkEnded = true;
      if (chunkEnded) dropped.push(token.text);
      else kept.push(token);
    }
  }
  const ids = [tokenizer.bosId, ...kept.map((t) => t.id), tokenizer.eosId];
  const weights = [1, ...kept.map((t) => t.weight), 1];
  while (ids.length < tokenizer.maxLength) {
    ids.push(tokenizer.padId);
    weights.push(1);
  }
  const droppedText = tokensText(dropped);
  return { ids, weights, tokenCount, truncated: droppedText !== '' || tokenCount > kept.length, droppedText };
}
