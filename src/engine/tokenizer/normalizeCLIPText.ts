// CLIP's text clean-up before BPE (OpenAI CLIP simple_tokenizer: basic_clean, whitespace_clean, lower):
// NFC normalisation, HTML unescaping (twice), whitespace runs collapsed to one space, trimmed, lower-cased.
// Gap: CLIP first runs ftfy.fix_text, which also repairs mojibake, straightens curly quotes, and
// unfolds ligatures and full-width forms; there is no ftfy for JavaScript, so we do not. Hugging
// Face's CLIPTokenizer skips ftfy too when it is not installed (the usual diffusers setup).

import { htmlUnescape } from './htmlUnescape';

/** Unicode White_Space, which the `regex` module's \s matches (JavaScript's \s differs: it has U+FEFF, lacks U+0085). */
export const WHITESPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WHITESPACE_RUN = new RegExp(`[${WHITESPACE}]+`, 'gu');

export function normalizeCLIPText(text: string): string {
  const unescaped = htmlUnescape(htmlUnescape(text.normalize('NFC')));
  return unescaped.replace(WHITESPACE_RUN, ' ').trim().toLowerCase();
}
