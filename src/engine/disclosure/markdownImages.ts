// Finds image links `![alt](path "title")` in Markdown text, with the offsets of the alt text and the
// target, skipping fenced code blocks and inline code; and the places a PNG's scene may be. Pure.
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';

export interface MarkdownImage {
  alt: string;
  /** The target as written (without angle brackets). */
  rawTarget: string;
  /** Offsets [start, end) of the whole `![alt](...)`. */
  start: number;
  end: number;
  altStart: number;
  altEnd: number;
  targetStart: number;
  targetEnd: number;
}

// CommonMark image syntax on one line; the alt text may hold escaped brackets but not nested ones (rare).
const IMAGE = /!\[((?:\\.|[^\]\\\r\n])*)\]\([ \t]*(<[^>\r\n]*>|[^\s()]+(?:\([^\s()]*\)[^\s()]*)*)(?:[ \t]+(?:"[^"\r\n]*"|'[^'\r\n]*'|\([^)\r\n]*\)))?[ \t]*\)/g;
const FENCE = /^( {0,3})(`{3,}|~{3,})/;

/** Offsets [start, end) of fenced code blocks and inline code spans. */
function codeRanges(text: string): [number, number][] {
  const ranges: [number, number][] = [];
  let offset = 0;
  let fence: { marker: string; start: number } | undefined;
  for (const line of text.split('\n')) {
    const m = FENCE.exec(line);
    if (fence) {
      if (m && m[2][0] === fence.marker[0] && m[2].length >= fence.marker.length && line.trim() === m[2]) {
        ranges.push([fence.start, offset + line.length]);
        fence = undefined;
      }
    } else if (m) fence = { marker: m[2], start: offset };
    else {
      for (const span of line.matchAll(/(`+)(?:(?!\1)[\s\S])*?\1/g)) ranges.push([offset + (span.index ?? 0), offset + (span.index ?? 0) + span[0].length]);
    }
    offset += line.length + 1;
  }
  if (fence) ranges.push([fence.start, text.length]);
  return ranges;
}

export function findMarkdownImages(text: string): MarkdownImage[] {
  const code = codeRanges(text);
  const inCode = (at: number): boolean => code.some(([s, e]) => at >= s && at < e);
  const images: MarkdownImage[] = [];
  for (const m of text.matchAll(IMAGE)) {
    const start = m.index ?? 0;
    if (inCode(start)) continue;
    const altStart = start + 2;
    const altEnd = altStart + m[1].length;
    const written = m[2];
    const rawStart = text.indexOf(written, altEnd + 2);
    const bracketed = written.startsWith('<');
    const targetStart = rawStart + (bracketed ? 1 : 0);
    const rawTarget = bracketed ? written.slice(1, -1) : written;
    images.push({ alt: m[1], rawTarget, start, end: start + m[0].length, altStart, altEnd, targetStart, targetEnd: targetStart + rawTarget.length });
  }
  return images;
}

/**
 * The local file a target names, resolved against the Markdown file's folder; undefined for URLs
 * (`https:`, `data:`...), fragments and empty targets. Percent-escapes are decoded (`my%20figure.png`).
 */
export function localImagePath(target: string, markdownFile: string): string | undefined {
  const t = target.replace(/[?#].*$/, '');
  if (t === '' || /^[a-z][a-z0-9+.-]*:/i.test(t) && !/^[a-z]:[\\/]/i.test(t)) return undefined;
  let decoded = t;
  try {
    decoded = decodeURIComponent(t);
  } catch {
    // a stray % is a literal percent sign
  }
  return isAbsolute(decoded) ? decoded : resolve(dirname(markdownFile), decoded);
}

/**
 * Where the scene that made `png` may be, most trusted first: the scene path its recipe records
 * (absolute on the machine that rendered it, so also tried by base name beside the PNG), then a scene
 * with the PNG's own base name beside it.
 */
export function sceneCandidates(png: string, recordedScene?: string): string[] {
  const dir = dirname(png);
  const candidates: string[] = [];
  if (recordedScene) {
    if (isAbsolute(recordedScene)) candidates.push(recordedScene);
    else candidates.push(resolve(dir, recordedScene));
    candidates.push(join(dir, basename(recordedScene.replace(/\\/g, '/'))));
  }
  candidates.push(join(dir, `${basename(png, extname(png))}.imgprompt`));
  return [...new Set(candidates)].filter((c) => extname(c).toLowerCase() === '.imgprompt');
}

/** `![alt](target)` with the characters that would end the alt text or the link escaped. */
export function imageLink(alt: string, target: string): string {
  const safeAlt = alt.replace(/\s+/g, ' ').trim().replace(/([\\[\]])/g, '\\$1');
  const safeTarget = /[\s()<>]/.test(target) ? `<${target}>` : target;
  return `![${safeAlt}](${safeTarget})`;
}

/**
 * HTML `<img>` elements in `text` (Markdown allows raw HTML; code blocks and spans are skipped), as MarkdownImage records:
 * `rawTarget` is the `src` value, `alt` the `alt` value ('' when absent, with altStart = altEnd at the
 * end of the tag name). Attribute values may be double-, single- or un-quoted.
 */
export function findHtmlImages(text: string): MarkdownImage[] {
  const code = codeRanges(text);
  const images: MarkdownImage[] = [];
  for (const m of text.matchAll(/<img\b[^>]*>/gi)) {
    const start = m.index ?? 0;
    if (code.some(([s, e]) => start >= s && start < e)) continue;
    const tag = m[0];
    const attrs = new Map<string, { value: string; at: number }>();
    for (const a of tag.matchAll(/\s([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/g)) {
      const value = a[2] ?? a[3] ?? a[4] ?? '';
      const quoted = a[2] !== undefined || a[3] !== undefined;
      const at = start + (a.index ?? 0) + a[0].length - value.length - (quoted ? 1 : 0);
      if (!attrs.has(a[1].toLowerCase())) attrs.set(a[1].toLowerCase(), { value, at });
    }
    const src = attrs.get('src');
    if (!src) continue;
    const alt = attrs.get('alt');
    const altStart = alt ? alt.at : start + 4;
    images.push({
      alt: alt?.value ?? '',
      rawTarget: src.value,
      start,
      end: start + tag.length,
      altStart,
      altEnd: altStart + (alt?.value.length ?? 0),
      targetStart: src.at,
      targetEnd: src.at + src.value.length,
    });
  }
  return images;
}
