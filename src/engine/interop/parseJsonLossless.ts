// A JSON reader for metadata from other tools: integers beyond 2^53 stay exact (ComfyUI and InvokeAI seeds
// go up to 2^64 − 1 and JSON.parse would round them), and hostile text is bounded. One pass, no recursion
// (an explicit stack), so time is linear in the text and nesting cannot overflow the call stack; length,
// depth, value count and integer length are capped (METADATA_LIMITS).
import { InputError } from '../errors';
import { checkTextLength, METADATA_LIMITS } from './metadataLimits';

/** A JSON value as parseJsonLossless returns it (bigint for integers outside the safe range). */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

type JsonObject = { [key: string]: JsonValue };

/** An open array or object; `key` is the member whose value is being read. */
type Frame = { array: JsonValue[]; object?: undefined } | { object: JsonObject; key: string; array?: undefined };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Adds a member the way JSON.parse does: an own data property, even for `__proto__`. */
function setMember(object: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__') Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  else object[key] = value;
}

/**
 * Parses JSON like JSON.parse, except that integer literals outside ±(2^53 − 1) become bigint instead of
 * being rounded. Throws SyntaxError (with the offset) for invalid JSON, and InputError when the text passes
 * a cap: longer than METADATA_LIMITS.jsonChars, nested deeper than jsonDepth, more than jsonValues values,
 * or an integer of more than jsonIntegerDigits digits.
 */
export function parseJsonLossless(text: string): JsonValue {
  checkTextLength(text, METADATA_LIMITS.jsonChars, 'JSON text');
  const end = text.length;
  let pos = 0;
  let values = 0;

  const syntaxError = (expected: string): never => {
    const found = pos < end ? `'${text[pos]}'` : 'the end of the text';
    throw new SyntaxError(`JSON: expected ${expected} at offset ${pos}, found ${found}`);
  };
  const skipSpace = (): void => {
    while (pos < end && isJsonSpace(text.charCodeAt(pos))) pos++;
  };

  const readString = (): string => {
    const start = pos;
    let escaped = false;
    for (pos++; pos < end; pos++) {
      const c = text.charCodeAt(pos);
      if (c === QUOTE) {
        pos++;
        if (!escaped) return text.slice(start + 1, pos - 1);
        // The escapes are JSON's own: the native parser reads them exactly (and linearly).
        try {
          return JSON.parse(text.slice(start, pos)) as string;
        } catch {
          pos = start;
          return syntaxError('a string with valid escapes');
        }
      }
      if (c === BACKSLASH) {
        escaped = true;
        pos++;
      } else if (c < 0x20) {
        return syntaxError('no control character inside a string');
      }
    }
    pos = start;
    return syntaxError('a closing quote for the string that starts here');
  };

  const readDigits = (): number => {
    const from = pos;
    while (pos < end && isDigit(text.charCodeAt(pos))) pos++;
    return pos - from;
  };

  const readNumber = (): number | bigint => {
    const start = pos;
    if (text.charCodeAt(pos) === 0x2d) pos++;
    const first = text.charCodeAt(pos);
    if (first === 0x30) pos++;
    else if (!readDigits()) return syntaxError('a digit');
    const digits = pos - start - (text.charCodeAt(start) === 0x2d ? 1 : 0);
    let integer = true;
    if (text.charCodeAt(pos) === 0x2e) {
      integer = false;
      pos++;
      if (!readDigits()) return syntaxError('a digit after the decimal point');
    }
    const e = text.charCodeAt(pos);
    if (e === 0x65 || e === 0x45) {
      integer = false;
      pos++;
      const sign = text.charCodeAt(pos);
      if (sign === 0x2b || sign === 0x2d) pos++;
      if (!readDigits()) return syntaxError('a digit in the exponent');
    }
    const literal = text.slice(start, pos);
    const n = Number(literal);
    if (!integer || digits < 16 || Number.isSafeInteger(n)) return n;
    if (digits > METADATA_LIMITS.jsonIntegerDigits) {
      throw new InputError(`JSON integer of ${digits} digits at offset ${start}, over the ${METADATA_LIMITS.jsonIntegerDigits} digits kept exact`);
    }
    return BigInt(literal);
  };

  /** Reads `"key" :` of an object member. */
  const readKey = (): string => {
    skipSpace();
    if (text.charCodeAt(pos) !== QUOTE) return syntaxError("a member name in double quotes");
    const key = readString();
    skipSpace();
    if (text.charCodeAt(pos) !== 0x3a) return syntaxError("':' after the member name");
    pos++;
    return key;
  };

  const stack: Frame[] = [];
  for (;;) {
    // 1. Read one value; an array or object that is not empty opens a frame and reads its first value.
    skipSpace();
    if (++values > METADATA_LIMITS.jsonValues) throw new InputError(`JSON has more than ${METADATA_LIMITS.jsonValues} values (at offset ${pos})`);
    let value: JsonValue;
    const c = text.charCodeAt(pos);
    if (c === 0x7b || c === 0x5b) {
      if (stack.length >= METADATA_LIMITS.jsonDepth) throw new InputError(`JSON nested deeper than ${METADATA_LIMITS.jsonDepth} levels at offset ${pos}`);
      pos++;
      skipSpace();
      if (c === 0x5b) {
        if (text.charCodeAt(pos) !== 0x5d) {
          stack.push({ array: [] });
          continue;
        }
        value = [];
      } else {
        if (text.charCodeAt(pos) !== 0x7d) {
          stack.push({ object: {}, key: readKey() });
          continue;
        }
        value = {};
      }
      pos++;
    } else if (c === QUOTE) {
      value = readString();
    } else if (c === 0x2d || isDigit(c)) {
      value = readNumber();
    } else if (text.startsWith('true', pos)) {
      pos += 4;
      value = true;
    } else if (text.startsWith('false', pos)) {
      pos += 5;
      value = false;
    } else if (text.startsWith('null', pos)) {
      pos += 4;
      value = null;
    } else {
      return syntaxError('a JSON value');
    }

    // 2. Hand the value to the open frame; a closing bracket completes that frame, which is in turn a value.
    for (;;) {
      const top = stack.at(-1);
      skipSpace();
      if (!top) {
        if (pos < end) syntaxError('the end of the text after the JSON value');
        return value;
      }
      if (top.array) top.array.push(value);
      else setMember(top.object, top.key, value);
      const next = text.charCodeAt(pos);
      if (next === 0x2c) {
        pos++;
        if (top.object) top.key = readKey();
        break;
      }
      if (next !== (top.array ? 0x5d : 0x7d)) syntaxError(top.array ? "',' or ']'" : "',' or '}'");
      pos++;
      stack.pop();
      value = top.array ?? top.object;
    }
  }
}
