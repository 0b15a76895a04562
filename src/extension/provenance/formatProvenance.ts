// What a PNG says about how it was made, as Markdown: a short summary for hovers on image links, and the
// full provenance document (every source, our recipe, raw text chunks, warnings) for Show Image
// Provenance. Pure, unit-tested on the fixture PNGs.
import type { ImageMetadata, MetadataSource, ImageMetadataReport, JsonValue } from '../../engine/editor';

const SOURCE_NAME: Record<MetadataSource, string> = {
  imgprompt: 'imgprompt',
  automatic1111: 'AUTOMATIC1111 (parameters)',
  comfyui: 'ComfyUI',
  invokeai: 'InvokeAI',
};

/**
 * Inline text safe inside our Markdown: escapes what could start emphasis, code, links or HTML anywhere
 * in a line (line-start syntax such as `#` or `-` cannot occur: every line starts with our own words).
 */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_[\]<>|~]/g, (c) => `\\${c}`);
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The recorded scene path, if the report carries our recipe. */
export function recordedScene(report: ImageMetadataReport): string | undefined {
  const scene: JsonValue | undefined = report.recipe?.scene;
  return typeof scene === 'string' && scene !== '' ? scene : undefined;
}

/** One "label: value" line per generation setting that is known. */
export function settingLines(meta: ImageMetadata): string[] {
  const lines: string[] = [];
  if (meta.seed !== undefined) lines.push(`seed ${meta.seed.toString()}`);
  if (meta.model) lines.push(`model ${meta.model}${meta.modelHash ? ` (${meta.modelHash.slice(0, 12)})` : ''}`);
  const sampling = [meta.sampler ?? meta.unmapped.Sampler ?? meta.unmapped.sampler_name, meta.schedule].filter(Boolean).join(' / ');
  const steps = meta.steps !== undefined ? `${meta.steps} steps` : undefined;
  const guidance = meta.guidance !== undefined ? `guidance ${meta.guidance}` : undefined;
  const run = [sampling || undefined, steps, guidance].filter(Boolean).join(', ');
  if (run) lines.push(run);
  if (meta.precision) lines.push(`UNet weights ${meta.precision}`);
  if (meta.width !== undefined && meta.height !== undefined) lines.push(`${meta.width}×${meta.height}`);
  for (const l of meta.loras) lines.push(`LoRA ${l.name} × ${l.weight}`);
  if (meta.denoise !== undefined) lines.push(`image-to-image, strength ${meta.denoise}`);
  return lines;
}

/** The hover on an image link: prompt, settings, source, AI marking. */
export function formatImageSummary(report: ImageMetadataReport, fileLabel: string): string | undefined {
  const meta = report.metadata;
  if (!meta) return undefined;
  const p = report.provenance;
  const out = [`**${escapeMarkdown(fileLabel)}** — made with ${SOURCE_NAME[meta.source]}${p.aiGenerated ? ' · AI-generated (IPTC trainedAlgorithmicMedia)' : ''}`, ''];
  if (meta.prompt !== undefined) out.push(`> ${escapeMarkdown(clip(meta.prompt.replace(/\s+/g, ' ').trim(), 400))}`, '');
  if (meta.negative) out.push(`Negative: ${escapeMarkdown(clip(meta.negative.replace(/\s+/g, ' ').trim(), 200))}`, '');
  const settings = settingLines(meta);
  if (settings.length) out.push(settings.map(escapeMarkdown).join(' · '), '');
  const purpose = meta.purpose ?? p.purpose;
  if (purpose) out.push(`Purpose: ${escapeMarkdown(clip(purpose, 300))}`, '');
  if (p.recipeHash) out.push(`Recipe \`${p.recipeHash.slice(0, 16)}\`${p.engineVersion ? ` · imgprompt ${escapeMarkdown(p.engineVersion)}` : ''}`, '');
  const marks = [p.audience ? `audience ${escapeMarkdown(p.audience)}` : undefined, p.watermark ? `invisible watermark \`${escapeMarkdown(p.watermark.payload)}\`` : undefined].filter(Boolean);
  if (marks.length) out.push(marks.join(' · '), '');
  return out.join('\n').trimEnd();
}

function fence(text: string, language = ''): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const marker = '`'.repeat(longest + 1);
  return `${marker}${language}\n${text}\n${marker}`;
}

function describeJson(value: JsonValue): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
}

/** The whole provenance of a PNG, as a Markdown document. */
export function formatProvenanceDocument(report: ImageMetadataReport): string {
  const p = report.provenance;
  const out = [`# Provenance of ${report.file}`, ''];
  out.push(`- AI-generated marking: ${p.aiGenerated ? 'yes' : 'no'}${p.digitalSourceType ? ` (${p.digitalSourceType})` : ' (no IPTC DigitalSourceType recorded)'}`);
  if (p.creatorTool) out.push(`- creator tool: ${p.creatorTool}`);
  if (p.audience) out.push(`- audience: ${p.audience}`);
  if (p.watermark) out.push(`- invisible watermark recorded: payload ${p.watermark.payload} (${p.watermark.algorithm})`);
  if (p.engineVersion) out.push(`- imgprompt engine ${p.engineVersion}${p.onnxruntimeVersion ? `, ONNX Runtime ${p.onnxruntimeVersion}` : ''}`);
  if (p.rng) out.push(`- noise generator: ${p.rng}`);
  if (p.recipeHash) out.push(`- recipe hash: \`${p.recipeHash}\``);
  if (p.purpose) out.push(`- purpose: ${p.purpose}`);
  const scene = recordedScene(report);
  if (scene) out.push(`- scene: ${scene}`);
  if (report.sources.length === 0) out.push('', 'No generation metadata (imgprompt, AUTOMATIC1111, ComfyUI or InvokeAI) was found in this image.');
  for (const meta of report.sources) {
    out.push('', `## ${SOURCE_NAME[meta.source]}`, '');
    if (meta.prompt !== undefined) out.push('Prompt:', '', fence(meta.prompt), '');
    if (meta.negative) out.push('Negative prompt:', '', fence(meta.negative), '');
    for (const line of settingLines(meta)) out.push(`- ${line}`);
    const unmapped = Object.entries(meta.unmapped);
    if (unmapped.length) {
      out.push('', 'Other recorded values:', '');
      for (const [k, v] of unmapped) out.push(`- ${k}: ${clip(v, 500)}`);
    }
  }
  if (report.recipe) out.push('', '## imgprompt recipe', '', fence(describeJson(report.recipe), 'json'));
  if (report.text.length) {
    out.push('', '## Text chunks', '');
    for (const t of report.text) out.push(`- \`${t.keyword}\` (${t.chunkType ?? 'text'}${t.compressed ? ', compressed' : ''}, ${t.text.length} characters)`);
  }
  if (report.warnings.length) {
    out.push('', '## Warnings', '');
    for (const w of report.warnings) out.push(`- ${w}`);
  }
  return `${out.join('\n')}\n`;
}
