// "Use this seed": the text edits that make a variant seed the scene's seed, touching only the values
// (comments, quoting style and layout stay as written). The old seed takes the variant's place in
// `variants.seeds`, so no render is lost and no seed is listed twice. Pure: offsets in the scene text.
import { parseScene, LineIndex } from '../../engine/editor';

export interface TextEdit {
  readonly start: number;
  readonly end: number;
  readonly newText: string;
}

export function seedEdits(text: string, seed: string): TextEdit[] {
  if (!/^\d+$/.test(seed)) throw new Error(`seed '${seed}' is not a non-negative integer`);
  const parsed = parseScene(text);
  const lines = new LineIndex(text);
  const offsets = (label: string) => {
    const range = parsed.locations.get(label)?.value;
    return range ? { start: lines.offset(range.start), end: lines.offset(range.end) } : undefined;
  };
  const current = parsed.scene.seed?.toString();
  if (current === seed) return [];
  const edits: TextEdit[] = [];
  const seedValue = offsets('seed');
  if (seedValue) edits.push({ ...seedValue, newText: seed });
  else {
    // No seed yet: add one on the line after the prompt (or at the top), in the file's own line ending.
    const eol = text.includes('\r\n') ? '\r\n' : '\n';
    const prompt = parsed.locations.get('prompt')?.value;
    const at = prompt ? lines.offset({ line: prompt.end.line + 1, character: 0 }) : 0;
    const needsBreak = at === text.length && text.length > 0 && !text.endsWith('\n');
    edits.push({ start: at, end: at, newText: `${needsBreak ? eol : ''}seed: ${seed}${eol}` });
  }
  const variants = parsed.scene.variants ?? [];
  const index = variants.findIndex((s) => s.toString() === seed);
  const variant = index >= 0 ? offsets(`variants.seeds[${index}]`) : undefined;
  if (variant && current !== undefined) edits.push({ ...variant, newText: current });
  return edits.sort((a, b) => b.start - a.start);
}
