// `imgprompt inspect`: shows how PNGs were made, from our own metadata or from AUTOMATIC1111, ComfyUI or
// InvokeAI's, plus provenance (AI disclosure, recipe hash, engine version). Everything a PNG says is
// printed through escapeTerminalText, so control sequences hidden in metadata are shown, not obeyed.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { InputError } from '../../engine/errors';
import type { ImageMetadata } from '../../engine/interop/imageMetadata';
import { readImageMetadataFile, type ImageMetadataReport } from '../../engine/interop/readImageMetadata';
import { readWatermarkFile, type WatermarkReport } from '../../engine/watermark/readWatermark';
import { READ_CAPS, readFileBounded } from '../../engine/io/readBounded';
import { c2paLines, c2paReportOf } from '../c2paSupport';
import type { C2paReport } from '../../engine/provenance/readC2pa';
import { escapeTerminalJson, escapeTerminalText } from '../../engine/text/terminalText';
import { UsageError, type Command } from '../command';

const usage = `usage: imgprompt inspect [--json] IMAGE...

Prints the generation metadata of each PNG: prompt, negative prompt, seed, steps, sampler, schedule,
guidance (CFG), size, model, LoRAs and image-to-image strength, read from imgprompt's own recipe,
AUTOMATIC1111's "parameters", ComfyUI's "prompt"/"workflow" graphs or InvokeAI's "invokeai_metadata";
what does not map is listed too. Also shows the provenance: the AI-generated disclosure (XMP IPTC
DigitalSourceType), recipe hash, engine version and audience, and looks for imgprompt's invisible
watermark in the pixels (it survives stripped metadata, JPEG/WebP re-encoding, crops and halving): its
payload is the recipe hash's first 32 bits. It also shows the C2PA manifest of any PNG or JPEG as the
reference implementation validates it (valid / trusted / invalid with the failing check, the signer, the
ingredient tree, image data or recipe changed after signing; trust anchors from the PEM file named by
IMGPROMPT_C2PA_TRUST_ANCHORS). Images that are not PNG show the watermark (and a JPEG its C2PA) only.
Exits 1 if any file is not a readable image.
Control characters in the metadata are printed as visible escapes (ESC as \\x1b).

options:
  --json   print an array of {file, metadata, sources, provenance, watermark, c2pa, textKeywords, warnings}`;

const SOURCE_NAME: Record<ImageMetadata['source'], string> = {
  imgprompt: 'imgprompt',
  automatic1111: 'AUTOMATIC1111 infotext',
  comfyui: 'ComfyUI graph',
  invokeai: 'InvokeAI',
};

/** JSON with bigint seeds written as exact integer literals, safe to print on a terminal. */
function toJson(value: unknown): string {
  const json = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `\u0000bigint:${v}` : v), 2).replace(/"\\u0000bigint:(-?\d+)"/g, '$1');
  return escapeTerminalJson(json);
}

function rows(meta: ImageMetadata): [string, string | undefined][] {
  const sampler = [meta.sampler, meta.schedule].filter(Boolean).join(', ');
  return [
    ['prompt', meta.prompt],
    ['negative', meta.negative],
    ['seed', meta.seed?.toString()],
    ['steps', meta.steps?.toString()],
    ['sampler', sampler || undefined],
    ['guidance', meta.guidance?.toString()],
    ['size', meta.width !== undefined && meta.height !== undefined ? `${meta.width}x${meta.height}` : undefined],
    ['model', meta.model],
    ['model hash', meta.modelHash],
    ['precision', meta.precision],
    ['loras', meta.loras.map((l) => escapeTerminalText(`${l.name} @ ${l.weight}${l.hash ? ` (${l.hash})` : ''}`)).join('\n') || undefined],
    ['init image', meta.initImage],
    ['denoise', meta.denoise?.toString()],
    ['purpose', meta.purpose],
  ];
}

/** Aligned `key  value` rows; keys and values escaped for the terminal, values may span lines. */
function table(pairs: [string, string | undefined][], indent: string): string[] {
  const present = pairs
    .filter((p): p is [string, string] => p[1] !== undefined && p[1] !== '')
    .map(([k, v]): [string, string] => [escapeTerminalText(k), escapeTerminalText(v, { multiline: true })]);
  const width = Math.max(0, ...present.map(([k]) => k.length));
  return present.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v.split('\n').join(`\n${indent}${' '.repeat(width + 2)}`)}`);
}

/** One line on the watermark the pixels carry, against what the metadata records. */
export function describeWatermark(mark: WatermarkReport, recorded: ImageMetadataReport['provenance']['watermark']): string {
  const how = `confidence ${mark.confidence.toFixed(2)}${mark.scale !== 1 ? `, read at scale ${mark.scale}` : ''}`;
  if (!mark.detected) {
    return recorded
      ? `none found, though the metadata says the pixels carry payload ${recorded.payload}: they were changed beyond what it survives (${how})`
      : `none found (${how})`;
  }
  if (mark.matchesRecipe === true) return `present: payload ${mark.payload}, the recipe hash's first 32 bits (${how})`;
  if (mark.matchesRecipe === false) return `present: payload ${mark.payload}, which is NOT this recipe's hash: the pixels come from another recipe (${how})`;
  return `present: payload ${mark.payload}, the first 32 bits of the recipe hash of the imgprompt render it came from (${how})`;
}

function describe(report: ImageMetadataReport, file: string, mark?: WatermarkReport, notPng = false, c2pa?: C2paReport): string {
  const displayName = escapeTerminalText(file);
  const lines: string[] = [];
  const meta = report.metadata;
  if (notPng) {
    lines.push(`${displayName}: not a PNG, so no generation metadata was read; the pixels were checked for the watermark`);
  } else if (!meta) {
    const keys = report.text.map((t) => escapeTerminalText(t.keyword));
    lines.push(`${displayName}: no generation metadata found${keys.length ? ` (text chunks: ${keys.join(', ')})` : ' (no text chunks)'}`);
  } else {
    const others = report.sources.slice(1).map((s) => SOURCE_NAME[s.source]);
    lines.push(`${displayName}: ${SOURCE_NAME[meta.source]} metadata${others.length ? ` (also: ${others.join(', ')})` : ''}`);
    lines.push(...table(rows(meta), '  '));
    const unmapped = Object.entries(meta.unmapped);
    if (unmapped.length) {
      lines.push('  not mapped:');
      lines.push(...table(unmapped, '    '));
    }
  }
  const p = report.provenance;
  const disclosure = p.digitalSourceType
    ? `${p.aiGenerated ? 'AI-generated' : 'not marked AI-generated'} (IPTC DigitalSourceType ${p.digitalSourceType.split('/').pop()})`
    : 'no AI-generated disclosure (no XMP DigitalSourceType)';
  lines.push('  provenance:');
  lines.push(
    ...table(
      [
        ['disclosure', disclosure],
        ['creator tool', p.creatorTool],
        ['recipe hash', p.recipeHash],
        ['engine', p.engineVersion],
        ['onnxruntime', p.onnxruntimeVersion],
        ['rng', p.rng],
        ['audience', p.audience],
        ['watermark', mark ? describeWatermark(mark, p.watermark) : undefined],
      ],
      '    ',
    ),
  );
  if (c2pa) lines.push(...c2paLines(c2pa, '    '));
  for (const warning of report.warnings) lines.push(`  warning: ${escapeTerminalText(warning)}`);
  return lines.join('\n');
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'show how PNGs were made (imgprompt, AUTOMATIC1111, ComfyUI, InvokeAI metadata)',
  usage,
  async run(args, io) {
    let parsed;
    try {
      parsed = parseArgs({ args, options: { json: { type: 'boolean' } }, allowPositionals: true, strict: true });
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    const files = parsed.positionals;
    if (files.length === 0) throw new UsageError('name at least one PNG file');

    const reports: (ImageMetadataReport & { c2pa?: C2paReport })[] = [];
    const marks: WatermarkReport[] = [];
    let failed = false;
    for (const file of files) {
      const path = resolve(io.cwd, file);
      try {
        let report: ImageMetadataReport;
        let notPng: InputError | undefined;
        try {
          report = await readImageMetadataFile(path);
        } catch (error) {
          // Not a PNG: a JPEG or WebP still carries the watermark; only a file no decoder reads fails.
          if (!(error instanceof InputError)) throw error;
          notPng = error;
          report = { file, sources: [], provenance: { aiGenerated: false }, text: [], warnings: [] };
        }
        const mark = await readWatermarkFile(path, report.provenance.recipeHash).catch((error: unknown) => {
          throw notPng ?? error;
        });
        report.file = file;
        // C2PA is read from PNG and JPEG; other formats carry the watermark only.
        const c2pa = !notPng || /\.jpe?g$/i.test(file) ? await c2paReportOf(await readFileBounded(path, READ_CAPS.image, 'image'), file, io.env) : undefined;
        reports.push({ ...report, ...(c2pa ? { c2pa } : {}) });
        marks.push(mark);
        if (!parsed.values.json) io.stdout(`${reports.length > 1 ? '\n' : ''}${describe(report, file, mark, notPng !== undefined, c2pa)}\n`);
      } catch (error) {
        if (!(error instanceof InputError)) throw error;
        failed = true;
        io.stderr(`${escapeTerminalText(error.message)}\n`);
      }
    }
    if (parsed.values.json) {
      const out = reports.map((r, i) => ({
        file: r.file,
        metadata: r.metadata ?? null,
        sources: r.sources,
        provenance: r.provenance,
        c2pa: r.c2pa ?? null,
        watermark: { detected: marks[i].detected, payload: marks[i].payload ?? null, confidence: marks[i].confidence, scale: marks[i].scale, matchesRecipe: marks[i].matchesRecipe ?? null },
        textKeywords: r.text.map((t) => t.keyword),
        warnings: r.warnings,
      }));
      io.stdout(`${toJson(out)}\n`);
    }
    return failed ? 1 : 0;
  },
};
