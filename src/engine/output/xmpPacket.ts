// The XMP packet embedded in every output (PNG iTXt `XML:com.adobe.xmp`, per the XMP specification part 3):
// IPTC DigitalSourceType `trainedAlgorithmicMedia` (the machine-readable "AI-generated" marking),
// dc:description (the prompt), xmp:CreatorTool and the scene's purpose. Also a tolerant reader for those
// properties in packets written by us or by other tools.

/** The iTXt keyword under which PNG files carry XMP. */
export const XMP_KEYWORD = 'XML:com.adobe.xmp';
/** IPTC NewsCodes digital source type for media created by a trained model (cv.iptc.org/newscodes/digitalsourcetype). */
export const TRAINED_ALGORITHMIC_MEDIA = 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia';
/** Our own XMP namespace, for properties no standard schema has (the figure's purpose). */
export const IMGPROMPT_XMP_NS = 'urn:imgprompt:xmp:1.0#';

export interface XmpProvenance {
  digitalSourceType?: string;
  description?: string;
  creatorTool?: string;
  purpose?: string;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;');
}

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_m, e: string) => {
    const lower = e.toLowerCase();
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16));
    if (lower.startsWith('#')) return String.fromCodePoint(parseInt(lower.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[lower] ?? '';
  });
}

/** Builds a complete XMP packet (read-only wrapper, no padding, no dates: deterministic). */
export function buildXmpPacket(fields: { prompt?: string; creatorTool: string; purpose?: string }): string {
  const lines = [
    '<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>',
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
    '  <rdf:Description rdf:about=""',
    '    xmlns:dc="http://purl.org/dc/elements/1.1/"',
    '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
    '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"',
    `    xmlns:imgprompt="${IMGPROMPT_XMP_NS}"`,
    `    Iptc4xmpExt:DigitalSourceType="${TRAINED_ALGORITHMIC_MEDIA}"`,
    `    xmp:CreatorTool="${escapeXml(fields.creatorTool)}"${fields.purpose ? '' : '>'}`,
  ];
  if (fields.purpose) lines.push(`    imgprompt:purpose="${escapeXml(fields.purpose)}">`);
  if (fields.prompt) {
    lines.push(
      '   <dc:description>',
      '    <rdf:Alt>',
      `     <rdf:li xml:lang="x-default">${escapeXml(fields.prompt)}</rdf:li>`,
      '    </rdf:Alt>',
      '   </dc:description>',
    );
  }
  lines.push('  </rdf:Description>', ' </rdf:RDF>', '</x:xmpmeta>', '<?xpacket end="r"?>');
  return lines.join('\n');
}

/** Reads a property written as an attribute (`p:Name="v"`) or a simple element (`<p:Name>v</p:Name>`). */
function simpleProperty(xml: string, localName: string): string | undefined {
  const name = `[A-Za-z][\\w.-]*:${localName}`;
  const attribute = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(xml);
  if (attribute) return unescapeXml(attribute[1] ?? attribute[2]);
  const element = new RegExp(`<(${name})(?:\\s+rdf:resource\\s*=\\s*"([^"]*)")?\\s*(?:/>|>([^<]*)</\\1>)`).exec(xml);
  if (element) return unescapeXml(element[2] ?? element[3] ?? '').trim() || undefined;
  return undefined;
}

/** Reads an rdf:Alt language alternative, preferring x-default. */
function altProperty(xml: string, localName: string): string | undefined {
  const block = new RegExp(`<([A-Za-z][\\w.-]*:${localName})\\b[^>]*>([\\s\\S]*?)</\\1>`).exec(xml);
  if (!block) return simpleProperty(xml, localName);
  const items = [...block[2].matchAll(/<rdf:li\b([^>]*)>([\s\S]*?)<\/rdf:li>/g)];
  const preferred = items.find((m) => /xml:lang\s*=\s*"x-default"/.test(m[1])) ?? items[0];
  return preferred ? unescapeXml(preferred[2]) : undefined;
}

/** Extracts the provenance properties from an XMP packet (any prefixes). */
export function readXmpProvenance(xml: string): XmpProvenance {
  const result: XmpProvenance = {};
  const digitalSourceType = simpleProperty(xml, 'DigitalSourceType');
  const creatorTool = simpleProperty(xml, 'CreatorTool');
  const description = altProperty(xml, 'description');
  const purpose = simpleProperty(xml, 'purpose');
  if (digitalSourceType) result.digitalSourceType = digitalSourceType;
  if (creatorTool) result.creatorTool = creatorTool;
  if (description) result.description = description;
  if (purpose) result.purpose = purpose;
  return result;
}
