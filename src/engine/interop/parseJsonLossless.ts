// A JSON reader that keeps integers beyond 2^53 exact (ComfyUI and InvokeAI seeds go up to 2^64 − 1 and
// JSON.parse would round them).

/** A JSON value as parseJsonLossless returns it (bigint for integers outside the safe range). */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

const BIG_MARK = '\u0000bigint:';

/**
 * Parses JSON like JSON.parse, except that integer literals outside ±(2^53 − 1) become bigint instead of
 * being rounded. Throws SyntaxError for invalid JSON.
 */
export function parseJsonLossless(text: string): JsonValue {
  // Wrap long integer literals (outside strings) in marked strings, then turn them back in a reviver.
  let marked = '';
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < text.length && /[0-9eE.+-]/.test(text[j])) j++;
      const literal = text.slice(i, j);
      if (/^-?\d{16,}$/.test(literal) && !Number.isSafeInteger(Number(literal))) {
        marked += `${text.slice(last, i)}"\\u0000bigint:${literal}"`;
        last = j;
      }
      i = j - 1;
    }
  }
  marked += text.slice(last);
  return JSON.parse(marked, (_key, v: unknown) =>
    typeof v === 'string' && v.startsWith(BIG_MARK) ? BigInt(v.slice(BIG_MARK.length)) : v,
  ) as JsonValue;
}
