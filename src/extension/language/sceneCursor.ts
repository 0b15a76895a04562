// What the cursor is on while typing a scene, from the text alone: a key or a value, under which parent
// (`size`, `loras[]`, ...), and the partial word. Line-based on purpose: while typing, the YAML is
// usually incomplete or broken, and a parser sees no structure in it. Handles block mappings, list items
// (`- file: `) and one-line flow mappings (`size: {megapixels: 0.2, aspect: `). Pure, unit-tested.

export type SceneCursor =
  | {
      kind: 'key';
      /** Parent path: '' for the top level, `size`, `loras[]`, `init`, ... */
      parent: string;
      prefix: string;
      /** Column where the partial key starts (the range to replace ends at the cursor). */
      start: number;
      /** Inside `{...}` on one line: completions insert `key: ` without line structure. */
      flow: boolean;
    }
  | {
      kind: 'value';
      /** Full path of the key whose value is being typed: `sampler`, `size.aspect`, `loras[].file`. */
      path: string;
      /** The value typed so far, without an opening quote. */
      prefix: string;
      start: number;
      /** The quote the value opened with, if any. */
      quote?: '"' | "'";
      flow: boolean;
    }
  | { kind: 'none' };

interface LineShape {
  indent: number;
  /** Column of the `-` when the line starts a list item. */
  itemColumn?: number;
  /** Column where the mapping content (key) starts, after any `- ` markers. */
  contentColumn: number;
  key?: string;
  /** Text after `key:`, trimmed. */
  value?: string;
  blank: boolean;
}

const KEY = /^([A-Za-z_][\w-]*)\s*:(?:\s+(.*)|$)/;

/** Strips a trailing comment (a `#` after whitespace, outside quotes). */
function stripComment(text: string): string {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]))) return text.slice(0, i);
  }
  return text;
}

function shape(line: string): LineShape {
  const text = stripComment(line);
  const indent = /^ */.exec(text)?.[0].length ?? 0;
  if (text.trim() === '') return { indent, contentColumn: indent, blank: true };
  let contentColumn = indent;
  let itemColumn: number | undefined;
  // `- - x` nests lists; only the innermost item matters for where its mapping starts.
  for (let m = /^-(?: +|$)/.exec(text.slice(contentColumn)); m; m = /^-(?: +|$)/.exec(text.slice(contentColumn))) {
    itemColumn = contentColumn;
    contentColumn += m[0].length;
    if (m[0].length === 1) break;
  }
  const k = KEY.exec(text.slice(contentColumn));
  return { indent, itemColumn, contentColumn, key: k?.[1], value: k ? (k[2] ?? '').trim() : undefined, blank: false };
}

/**
 * The parent path of the mapping that `current` (the shape of line `lineIndex`) belongs to, found by
 * walking up to the first line that starts further left, which must be a key with no inline value.
 * Undefined when the line is not in a scene mapping (a continuation of a multi-line text, a block scalar).
 */
function parentPath(lines: readonly string[], lineIndex: number, current: LineShape): string | undefined {
  let column = current.contentColumn;
  let item = current.itemColumn;
  const segments: string[] = [];
  for (let i = lineIndex - 1; i >= 0 && (column > 0 || item !== undefined); i--) {
    const s = shape(lines[i]);
    if (s.blank) continue;
    if (item === undefined) {
      if (s.contentColumn === column) {
        // A sibling key; when it sits on a `- ` line, our mapping is that list item.
        if (s.itemColumn !== undefined) item = s.itemColumn;
        continue;
      }
      if (s.contentColumn > column) continue;
    } else if (s.itemColumn === item || s.indent > item) continue;
    if (s.key === undefined || s.value !== '') return undefined;
    segments.unshift(item === undefined ? s.key : `${s.key}[]`);
    column = s.contentColumn;
    item = s.itemColumn;
  }
  return column === 0 && item === undefined ? segments.join('.') : undefined;
}

/** The innermost unclosed `{` or `[` in `text` (outside quotes), with its column. */
function openBracket(text: string): { char: '{' | '['; column: number } | undefined {
  const stack: { char: '{' | '['; column: number }[] = [];
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '{' || c === '[') stack.push({ char: c, column: i });
    else if (c === '}' || c === ']') stack.pop();
  }
  return stack.pop();
}

function valueCursor(path: string, text: string, valueStart: number, flow: boolean): SceneCursor {
  const raw = text.slice(valueStart);
  const quote = raw.startsWith('"') || raw.startsWith("'") ? (raw[0] as '"' | "'") : undefined;
  if (quote && raw.length > 1 && raw.endsWith(quote)) return { kind: 'none' }; // a closed string: nothing to complete
  const start = valueStart + (quote ? 1 : 0);
  return quote ? { kind: 'value', path, prefix: text.slice(start), start, quote, flow } : { kind: 'value', path, prefix: text.slice(start), start, flow };
}

/** What the cursor at (`line`, `character`) of `text` is on. */
export function sceneCursor(text: string, line: number, character: number): SceneCursor {
  const lines = text.split(/\r\n|\r|\n/);
  const full = lines[line];
  if (full === undefined) return { kind: 'none' };
  const before = full.slice(0, character);
  if (stripComment(before) !== before) return { kind: 'none' };
  const here = shape(before);

  const bracket = openBracket(before);
  if (bracket?.char === '[') return { kind: 'none' };
  if (bracket?.char === '{') {
    // The flow mapping belongs to the key written before the brace, or is itself a list item.
    const owner = shape(before.slice(0, bracket.column));
    const ownerLine = shape(full);
    let parent: string | undefined;
    if (owner.key !== undefined) {
      const container = parentPath(lines, line, ownerLine);
      if (container === undefined) return { kind: 'none' };
      parent = container ? `${container}.${owner.key}` : owner.key;
    } else if (owner.itemColumn !== undefined) {
      parent = parentPath(lines, line, ownerLine);
    }
    if (parent === undefined || parent === '') return { kind: 'none' };
    const segmentStart = Math.max(before.lastIndexOf(','), bracket.column) + 1;
    const segment = before.slice(segmentStart);
    const k = /^\s*([A-Za-z_][\w-]*)\s*:\s*/.exec(segment);
    if (k) return valueCursor(`${parent}.${k[1]}`, before, segmentStart + k[0].length, true);
    const word = /^\s*([\w-]*)$/.exec(segment);
    return word ? { kind: 'key', parent, prefix: word[1], start: before.length - word[1].length, flow: true } : { kind: 'none' };
  }

  const content = before.slice(here.contentColumn);
  const k = /^([A-Za-z_][\w-]*)\s*:\s+/.exec(content);
  if (k) {
    const container = parentPath(lines, line, here);
    if (container === undefined) return { kind: 'none' };
    return valueCursor(container ? `${container}.${k[1]}` : k[1], before, here.contentColumn + k[0].length, false);
  }
  const word = /^([\w-]*)$/.exec(content);
  if (!word) return { kind: 'none' };
  const container = parentPath(lines, line, here);
  if (container === undefined) return { kind: 'none' };
  return { kind: 'key', parent: container, prefix: word[1], start: here.contentColumn, flow: false };
}
