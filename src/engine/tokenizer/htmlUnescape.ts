// HTML character references as Python's html.unescape resolves them (CLIP's basic_clean applies it
// twice): decimal and hex references with the HTML5 replacements for invalid code points, and named
// references. Only the common named entities are known here (Python knows all 2,231 HTML5 names);
// other names are left as written.

const NAMED: Readonly<Record<string, string>> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', copy: '\u00a9', reg: '\u00ae',
  trade: '\u2122', deg: '\u00b0', times: '\u00d7', divide: '\u00f7', plusmn: '\u00b1', middot: '\u00b7',
  hellip: '\u2026', mdash: '\u2014', ndash: '\u2013', lsquo: '\u2018', rsquo: '\u2019', ldquo: '\u201c',
  rdquo: '\u201d', laquo: '\u00ab', raquo: '\u00bb', bull: '\u2022', euro: '\u20ac', pound: '\u00a3',
  yen: '\u00a5', cent: '\u00a2', sect: '\u00a7', para: '\u00b6', frac12: '\u00bd', frac14: '\u00bc',
  frac34: '\u00be', sup2: '\u00b2', sup3: '\u00b3', micro: '\u00b5', eacute: '\u00e9', egrave: '\u00e8',
  aacute: '\u00e1', agrave: '\u00e0', uuml: '\u00fc', ouml: '\u00f6', auml: '\u00e4', szlig: '\u00df',
  ccedil: '\u00e7', ntilde: '\u00f1',
};
/** Names HTML5 also accepts without the closing semicolon (its legacy entities), among those above. */
const LEGACY = new Set(Object.keys(NAMED).filter((n) => !['apos', 'trade', 'hellip', 'mdash', 'ndash', 'lsquo', 'rsquo', 'ldquo', 'rdquo', 'bull', 'euro'].includes(n)));
const LONGEST_LEGACY = Math.max(...[...LEGACY].map((n) => n.length));

/** Windows-1252 meanings HTML5 gives to references in 0x80..0x9F (and 0x00, 0x0D). */
const INVALID_CHARREFS: Readonly<Record<number, string>> = {
  0x00: '\ufffd', 0x0d: '\r', 0x80: '\u20ac', 0x81: '\x81', 0x82: '\u201a', 0x83: '\u0192', 0x84: '\u201e',
  0x85: '\u2026', 0x86: '\u2020', 0x87: '\u2021', 0x88: '\u02c6', 0x89: '\u2030', 0x8a: '\u0160', 0x8b: '\u2039',
  0x8c: '\u0152', 0x8d: '\x8d', 0x8e: '\u017d', 0x8f: '\x8f', 0x90: '\x90', 0x91: '\u2018', 0x92: '\u2019',
  0x93: '\u201c', 0x94: '\u201d', 0x95: '\u2022', 0x96: '\u2013', 0x97: '\u2014', 0x98: '\u02dc', 0x99: '\u2122',
  0x9a: '\u0161', 0x9b: '\u203a', 0x9c: '\u0153', 0x9d: '\x9d', 0x9e: '\u017e', 0x9f: '\u0178',
};

/** Code points a numeric reference may not produce; Python drops them. */
function isInvalidCodePoint(cp: number): boolean {
  return (
    (cp >= 0x1 && cp <= 0x8) || cp === 0xb || (cp >= 0xe && cp <= 0x1f) || (cp >= 0x7f && cp <= 0x9f) ||
    (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe
  );
}

function numeric(digits: string, hex: boolean): string {
  const cp = Number.parseInt(digits, hex ? 16 : 10);
  if (cp in INVALID_CHARREFS) return INVALID_CHARREFS[cp];
  if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return '\ufffd';
  if (isInvalidCodePoint(cp)) return '';
  return String.fromCodePoint(cp);
}

function named(body: string): string {
  if (body.endsWith(';')) {
    const value = NAMED[body.slice(0, -1)];
    if (value !== undefined) return value;
  }
  // Without a known name; a legacy name may still prefix it ("&ampx" is "&x").
  for (let n = Math.min(body.length, LONGEST_LEGACY); n > 0; n--) {
    const name = body.slice(0, n);
    if (LEGACY.has(name)) return NAMED[name] + body.slice(n);
  }
  return `&${body}`;
}

/** One pass of html.unescape. */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/g, (_, body: string) => {
    if (body[0] !== '#') return named(body);
    const hex = body[1] === 'x' || body[1] === 'X';
    return numeric(body.slice(hex ? 2 : 1).replace(';', ''), hex);
  });
}
