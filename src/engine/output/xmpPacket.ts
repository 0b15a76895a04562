// The XMP packet embedded in every output (PNG iTXt `XML:com.adobe.xmp`, per the XMP specification part 3):
// IPTC DigitalSourceType `trainedAlgorithmicMedia` (the machine-readable "AI-generated" marking),
// dc:description (the prompt), xmp:CreatorTool, and the scene's purpose and audience in our namespace. Also a tolerant reader for those
// properties in packets written by us or by other tools: a linear scan (no backtracking regular
// expressions), with the packet's length capped, since the packet comes from whatever PNG is opened.

import { InputError } from '../errors';

/** The iTXt keyword under which PNG files carry XMP. */
export const XMP_KEYWORD = 'XML:com.adobe.xmp';
/** IPTC NewsCodes digital source type for media created by a trained model (cv.iptc.org/newscodes/digitalsourcetype). */
export const TRAINED_ALGORITHMIC_MEDIA = 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia';
/** Our own XMP namespace, for properties no standard schema has (the figure's purpose and audience). */
export const IMGPROMPT_XMP_NS = 'urn:imgprompt:xmp:1.0#';

export interface XmpProvenance {
  digitalSourceType?: string;
  description?: string;
  creatorTool?: string;
  purpose?: string;
  /** `imgprompt:audience` (`team` / `public`): who the figure is for. */
  audience?: string;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;');
}

/** Decodes the five XML entities and character references; a reference to no character stays as written. */
function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (reference, e: string) => {
    const lower = e.toLowerCase();
    if (lower.startsWith('#')) {
      const code = lower.startsWith('#x') ? parseInt(lower.slice(2), 16) : parseInt(lower.slice(1), 10);
      return code <= 0x10ffff ? String.fromCodePoint(code) : reference;
    }
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[lower] ?? '';
  });
}

/** IPTC NewsCodes digital source type for an AI generation that started from a given image (img2img). */
export const COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = 'http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia';

export interface XmpPacketFields {
  prompt?: string;
  creatorTool: string;
  purpose?: string;
  /** Who the figure is for (`team`, `public`), as `imgprompt:audience`. */
  audience?: string;
  /** dc:title (the scene's name). */
  title?: string;
  /** IPTC 2025.1 AI fields: AI System Used and Version, Prompt Writer Name (the prompt is AI Prompt Information). */
  aiSystem?: string;
  aiSystemVersion?: string;
  promptWriter?: string;
  /** Default trainedAlgorithmicMedia. */
  digitalSourceType?: string;
}

/** Builds a complete XMP packet (read-only wrapper, no padding, no dates: deterministic). */
export function buildXmpPacket(fields: XmpPacketFields): string {
  const attributes: [string, string | undefined][] = [
    ['Iptc4xmpExt:DigitalSourceType', fields.digitalSourceType ?? TRAINED_ALGORITHMIC_MEDIA],
    ['Iptc4xmpExt:AISystemUsed', fields.aiSystem],
    ['Iptc4xmpExt:AISystemVersionUsed', fields.aiSystemVersion],
    ['Iptc4xmpExt:AIPromptInformation', fields.aiSystem ? fields.prompt : undefined],
    ['Iptc4xmpExt:AIPromptWriterName', fields.promptWriter],
    ['xmp:CreatorTool', fields.creatorTool],
    ['imgprompt:purpose', fields.purpose],
    ['imgprompt:audience', fields.audience],
  ];
  const present = attributes.filter((a): a is [string, string] => a[1] !== undefined && a[1] !== '');
  const lines = [
    '<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>',
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
    '  <rdf:Description rdf:about=""',
    '    xmlns:dc="http://purl.org/dc/elements/1.1/"',
    '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
    '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"',
    `    xmlns:imgprompt="${IMGPROMPT_XMP_NS}"`,
    ...present.map(([name, value], i) => `    ${name}="${escapeXml(value)}"${i === present.length - 1 ? '>' : ''}`),
  ];
  const alt = (name: string, text: string) => [`   <${name}>`, '    <rdf:Alt>', `     <rdf:li xml:lang="x-default">${escapeXml(text)}</rdf:li>`, '    </rdf:Alt>', `   </${name}>`];
  if (fields.title) lines.push(...alt('dc:title', fields.title));
  if (fields.prompt) lines.push(...alt('dc:description', fields.prompt));
  lines.push('  </rdf:Description>', ' </rdf:RDF>', '</x:xmpmeta>', '<?xpacket end="r"?>');
  return lines.join('\n');
}

/** The longest XMP packet read (characters); real packets are a few KiB. */
export const MAX_XMP_CHARS = 1024 * 1024;

function isNameChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2e || c === 0x2d;
}

function isLetter(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
}

/** JavaScript's `\s`. */
function isSpace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
  );
}

/**
 * `find(i)`: text.indexOf(needle, i), remembered: asked with indexes that never go down, the search
 * reads the text once in all (a found index answers every start up to it; "none" answers every later start).
 */
function finder(text: string, needle: string): (i: number) => number {
  let from = Infinity;
  let found = -1;
  return (i) => {
    if (i >= from && (found < 0 || i <= found)) return found;
    from = i;
    found = text.indexOf(needle, i);
    return found;
  };
}

/** One `prefix:localName` in the packet: where the prefix starts and where the name ends. */
interface NameAt {
  start: number;
  end: number;
  name: string;
}

/**
 * Every `prefix:localName` with a well-formed prefix (`[A-Za-z][\w.-]*`), left to right. The prefix is the
 * run of name characters before the colon; runs before different matches do not overlap (a colon ends
 * each), so the whole scan is linear.
 */
function qualifiedNames(xml: string, localName: string): NameAt[] {
  const found: NameAt[] = [];
  const needle = `:${localName}`;
  for (let colon = xml.indexOf(needle); colon >= 0; colon = xml.indexOf(needle, colon + 1)) {
    let start = colon;
    while (start > 0 && isNameChar(xml.charCodeAt(start - 1))) start--;
    if (start === colon || !isLetter(xml.charCodeAt(start))) continue;
    const end = colon + needle.length;
    found.push({ start, end, name: xml.slice(start, end) });
  }
  return found;
}

function skipSpaces(xml: string, i: number): number {
  while (i < xml.length && isSpace(xml.charCodeAt(i))) i++;
  return i;
}

/** The quoted value at `i` (after `\s*=\s*`), or undefined; `quotes` find the closing quote. */
function quotedValueAfterEquals(xml: string, i: number, quotes: Record<string, (i: number) => number>): { value: string; end: number } | undefined {
  i = skipSpaces(xml, i);
  if (xml.charCodeAt(i) !== 0x3d) return undefined;
  i = skipSpaces(xml, i + 1);
  const quote = xml[i];
  if (quote !== '"' && quote !== "'") return undefined;
  const close = quotes[quote](i + 1);
  return close < 0 ? undefined : { value: xml.slice(i + 1, close), end: close + 1 };
}

/** Reads a property written as an attribute (`p:Name="v"`) or a simple element (`<p:Name>v</p:Name>`). */
function simpleProperty(xml: string, localName: string): string | undefined {
  const names = qualifiedNames(xml, localName);
  const quotes = { '"': finder(xml, '"'), "'": finder(xml, "'") };
  // 1. An attribute: whitespace, the name, `=`, a quoted value.
  for (const at of names) {
    if (at.start === 0 || !isSpace(xml.charCodeAt(at.start - 1))) continue;
    const attribute = quotedValueAfterEquals(xml, at.end, quotes);
    if (attribute) return unescapeXml(attribute.value);
  }
  // 2. An element: `<name`, an optional rdf:resource attribute, then `/>` or `>text</name>`.
  const doubleQuote = finder(xml, '"');
  const lessThan = finder(xml, '<');
  for (const at of names) {
    if (at.start === 0 || xml.charCodeAt(at.start - 1) !== 0x3c) continue;
    let i = at.end;
    let resource: string | undefined;
    const afterSpace = skipSpaces(xml, i);
    if (afterSpace > i && xml.startsWith('rdf:resource', afterSpace)) {
      const attribute = quotedValueAfterEquals(xml, afterSpace + 'rdf:resource'.length, { '"': doubleQuote, "'": () => -1 });
      if (attribute) {
        resource = attribute.value;
        i = attribute.end;
      }
    }
    i = skipSpaces(xml, i);
    if (xml.startsWith('/>', i)) return unescapeXml(resource ?? '').trim() || undefined;
    if (xml.charCodeAt(i) !== 0x3e) continue;
    const close = lessThan(i + 1);
    if (close < 0 || !xml.startsWith(`</${at.name}>`, close)) continue;
    return unescapeXml(resource ?? xml.slice(i + 1, close)).trim() || undefined;
  }
  return undefined;
}

/** Reads an rdf:Alt language alternative, preferring x-default. */
function altProperty(xml: string, localName: string): string | undefined {
  // The first `<name ...>` (the name ends at a non-word character) whose `</name>` comes after it.
  const names = qualifiedNames(xml, localName);
  const closes = new Map<string, number[]>();
  for (const at of names) {
    if (at.start >= 2 && xml.startsWith('</', at.start - 2) && xml.charCodeAt(at.end) === 0x3e) {
      const list = closes.get(at.name) ?? [];
      list.push(at.start - 2);
      closes.set(at.name, list);
    }
  }
  const greaterThan = finder(xml, '>');
  let block: string | undefined;
  for (const at of names) {
    if (at.start === 0 || xml.charCodeAt(at.start - 1) !== 0x3c) continue;
    const next = xml.charCodeAt(at.end);
    if (at.end < xml.length && (isLetter(next) || (next >= 0x30 && next <= 0x39) || next === 0x5f)) continue;
    const open = greaterThan(at.end);
    if (open < 0) break;
    const list = closes.get(at.name);
    if (!list || list[list.length - 1] <= open) continue;
    // Only this candidate succeeds, so one search over its closing tags is enough.
    const close = list.find((c) => c > open) as number;
    block = xml.slice(open + 1, close);
    break;
  }
  if (block === undefined) return simpleProperty(xml, localName);
  // The rdf:li items, left to right; the first whose attributes say x-default wins, else the first.
  const items: { attributes: string; text: string }[] = [];
  const itemOpen = finder(block, '>');
  for (let pos = 0; ; ) {
    const start = block.indexOf('<rdf:li', pos);
    if (start < 0) break;
    const next = block.charCodeAt(start + 7);
    if (isLetter(next) || (next >= 0x30 && next <= 0x39) || next === 0x5f) {
      pos = start + 1;
      continue;
    }
    const gt = itemOpen(start + 7);
    if (gt < 0) break;
    const end = block.indexOf('</rdf:li>', gt + 1);
    if (end < 0) break;
    items.push({ attributes: block.slice(start + 7, gt), text: block.slice(gt + 1, end) });
    pos = end + '</rdf:li>'.length;
  }
  const preferred = items.find((m) => /xml:lang\s*=\s*"x-default"/.test(m.attributes)) ?? items[0];
  return preferred ? unescapeXml(preferred.text) : undefined;
}

/** Extracts the provenance properties from an XMP packet (any prefixes). InputError past MAX_XMP_CHARS. */
export function readXmpProvenance(xml: string): XmpProvenance {
  if (xml.length > MAX_XMP_CHARS) throw new InputError(`XMP packet is ${xml.length} characters long, over the ${MAX_XMP_CHARS} it may have`);
  const result: XmpProvenance = {};
  const digitalSourceType = simpleProperty(xml, 'DigitalSourceType');
  const creatorTool = simpleProperty(xml, 'CreatorTool');
  const description = altProperty(xml, 'description');
  const purpose = simpleProperty(xml, 'purpose');
  if (digitalSourceType) result.digitalSourceType = digitalSourceType;
  if (creatorTool) result.creatorTool = creatorTool;
  if (description) result.description = description;
  if (purpose) result.purpose = purpose;
  // By its local name, as the rest: `audience` is in no other schema a figure's XMP carries.
  const audience = simpleProperty(xml, 'audience');
  if (audience) result.audience = audience;
  return result;
}
