// Text from files (PNG metadata, scene values and keys, LoRA metadata, file names) made safe to print on a
// terminal. A terminal obeys control characters: ESC starts ANSI/OSC sequences that recolour, retitle or
// clear it, or write links and clipboard contents; CR returns to the start of the line so later text hides
// earlier text; bidirectional overrides reorder what is shown. Each such character is replaced by a
// visible escape, so the sequence is shown instead of obeyed:
//
//   \n \r \t                    for newline, carriage return and tab (tab and, in multi-line text, newline
//                               are printed as they are)
//   \xHH                        for the other C0 controls (U+0000–U+001F), DEL (U+007F) and the C1
//                               controls (U+0080–U+009F); ESC is \x1b, so "ESC [ 2 J" prints as \x1b[2J
//   \uHHHH                      for the Unicode line and paragraph separators (U+2028, U+2029) and the
//                               bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069)
//
// Everything else, backslashes included, is printed unchanged: the escapes are for people reading a
// terminal, not a reversible encoding.

export interface TerminalTextOptions {
  /** Keep newlines (the text is printed over several lines on purpose). Default false: \n is escaped. */
  multiline?: boolean;
}

const UNSAFE = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_KEEPING_NEWLINES = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function visible(ch: string): string {
  if (ch === '\n') return '\\n';
  if (ch === '\r') return '\\r';
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** The text with every control character a terminal would act on shown as a visible escape (see above). */
export function escapeTerminalText(text: string, options: TerminalTextOptions = {}): string {
  return text.replace(options.multiline ? UNSAFE_KEEPING_NEWLINES : UNSAFE, visible);
}

/**
 * JSON text (from JSON.stringify) with the characters JSON leaves raw but a terminal acts on (DEL, the C1
 * controls, line separators, bidi controls) written as \u escapes; it parses back to the same value.
 */
export function escapeTerminalJson(json: string): string {
  return json.replace(/[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
