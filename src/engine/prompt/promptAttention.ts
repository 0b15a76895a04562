// Prompt emphasis as AUTOMATIC1111 writes it (modules/prompt_parser.py, parse_prompt_attention; its
// docstring's examples are our test cases): `(text)` multiplies the attention of text by 1.1, `[text]`
// divides it by 1.1, `(text:1.5)` sets the factor, brackets nest and multiply, `\(` `\)` `\[` `\]` `\\`
// are the literal characters, an unclosed bracket runs to the end of the prompt, a closing bracket
// without its opener is text, and `BREAK` (a whole word outside brackets) ends the current 75-token chunk.
// The scanner below finds the tokens of A1111's re_attention in one pass; weights are multiplied in the
// order A1111 multiplies them, so they are the same doubles Python computes. Closing a bracket touches
// every fragment inside it, so the work is the text's length times the nesting depth: brackets are
// limited to MAX_BRACKET_DEPTH open at once, which no prompt written for a person comes near.
import { InputError } from '../errors';

/** A piece of prompt text and the factor its tokens' hidden states are multiplied by. */
export interface PromptFragment {
  readonly text: string;
  readonly weight: number;
}

/** A1111 marks a chunk break as the fragment ['BREAK', -1]; inside brackets its weight changes and it is text again. */
export const BREAK_TEXT = 'BREAK';
export const BREAK_WEIGHT = -1;

/** Round or square brackets open at once beyond which a prompt is refused. */
export const MAX_BRACKET_DEPTH = 128;

const ROUND_MULTIPLIER = 1.1;
const SQUARE_MULTIPLIER = 1 / 1.1;

/** `\s*\bBREAK\b\s*`, with Python's Unicode word characters (letters, numbers, underscore) for `\b`. */
const BREAK_PATTERN = /\s*(?<![\p{L}\p{N}_])BREAK(?![\p{L}\p{N}_])\s*/u;

/**
 * A1111's `:\s*([+-]?[.\d]+)\s*\)` at `at` (a colon): an explicit weight closing a round bracket.
 * Returns the weight's text and where the match ends, or undefined. Greedy matching loses nothing here:
 * what follows the digits must be a space or `)`, which no shorter run of digits could reach.
 */
function matchWeightClose(text: string, at: number): { weight: string; end: number } | undefined {
  const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
  let i = at + 1;
  while (isSpace(text[i])) i++;
  const start = i;
  if (text[i] === '+' || text[i] === '-') i++;
  const digits = i;
  while (i < text.length && (text[i] === '.' || (text[i] >= '0' && text[i] <= '9'))) i++;
  if (i === digits) return undefined;
  const weight = text.slice(start, i);
  while (isSpace(text[i])) i++;
  return text[i] === ')' ? { weight, end: i + 1 } : undefined;
}

/** Characters that end a plain text run: `[^\\()\[\]:]+`. */
const SPECIAL = new Set(['\\', '(', ')', '[', ']', ':']);

/** True when the fragment is A1111's BREAK marker (not the word BREAK inside brackets). */
export function isBreak(fragment: PromptFragment): boolean {
  return fragment.text === BREAK_TEXT && fragment.weight === BREAK_WEIGHT;
}

/**
 * The prompt as fragments of text with their weights, runs of equal weight merged, exactly as A1111's
 * parse_prompt_attention returns them. Two differences where A1111 fails: a weight its float() refuses
 * (`(a:1.2.3)`) is text, its colon and digits, and the bracket closes as a plain one; and more than
 * MAX_BRACKET_DEPTH brackets open at once is an InputError.
 */
export function parsePromptAttention(prompt: string): PromptFragment[] {
  // Texts and weights side by side: a plain array of doubles multiplies in place without boxing.
  const texts: string[] = [];
  const weights: number[] = [];
  const round: number[] = [];
  const square: number[] = [];
  const multiplyFrom = (start: number, multiplier: number): void => {
    for (let p = start; p < weights.length; p++) weights[p] *= multiplier;
  };
  const push = (text: string, weight: number): void => {
    texts.push(text);
    weights.push(weight);
  };
  const pushText = (text: string): void => {
    if (!text.includes(BREAK_TEXT)) return push(text, 1);
    text.split(BREAK_PATTERN).forEach((part, i) => {
      if (i > 0) push(BREAK_TEXT, BREAK_WEIGHT);
      push(part, 1);
    });
  };

  let i = 0;
  while (i < prompt.length) {
    const c = prompt[i];
    if (c === '\\') {
      // `\(`, `\)`, `\[`, `\]`, `\\` are the character itself; a lone backslash is dropped.
      const next = prompt[i + 1];
      const escaped = next === '(' || next === ')' || next === '[' || next === ']' || next === '\\';
      push(escaped ? next : '', 1);
      i += escaped ? 2 : 1;
    } else if (c === '(' || c === '[') {
      const stack = c === '(' ? round : square;
      if (stack.length >= MAX_BRACKET_DEPTH) {
        throw new InputError(`the prompt opens more than ${MAX_BRACKET_DEPTH} '${c}' brackets at once (at character ${i + 1}); write \\${c} for a literal bracket`);
      }
      stack.push(weights.length);
      i++;
    } else if (c === ':') {
      const m = matchWeightClose(prompt, i);
      const weight = m ? Number(m.weight) : NaN;
      if (m && round.length > 0 && Number.isFinite(weight)) {
        multiplyFrom(round.pop()!, weight);
        i = m.end;
      } else if (m && round.length === 0) {
        pushText(prompt.slice(i, m.end));
        i = m.end;
      } else {
        pushText(':');
        i++;
      }
    } else if (c === ')' && round.length > 0) {
      multiplyFrom(round.pop()!, ROUND_MULTIPLIER);
      i++;
    } else if (c === ']' && square.length > 0) {
      multiplyFrom(square.pop()!, SQUARE_MULTIPLIER);
      i++;
    } else if (c === ')' || c === ']') {
      pushText(c);
      i++;
    } else {
      let end = i + 1;
      while (end < prompt.length && !SPECIAL.has(prompt[end])) end++;
      pushText(prompt.slice(i, end));
      i = end;
    }
  }
  for (const start of round) multiplyFrom(start, ROUND_MULTIPLIER);
  for (const start of square) multiplyFrom(start, SQUARE_MULTIPLIER);
  if (texts.length === 0) return [{ text: '', weight: 1 }];

  const merged: { text: string; weight: number }[] = [{ text: texts[0], weight: weights[0] }];
  for (let p = 1; p < texts.length; p++) {
    const last = merged[merged.length - 1];
    if (last.weight === weights[p]) last.text += texts[p];
    else merged.push({ text: texts[p], weight: weights[p] });
  }
  return merged;
}

/** True when the prompt carries emphasis or BREAK: some fragment's weight is not 1. */
export function hasEmphasis(fragments: readonly PromptFragment[]): boolean {
  return fragments.some((f) => f.weight !== 1);
}
