// Turns what a PNG says about itself (the engine's ImageMetadataReport) into the provenance panel's
// rows: purpose, model and hash, LoRAs and hashes, hint images, seed and RNG, sampler settings, engine
// and onnxruntime versions, and the AI-generated disclosure. Images not made by imgprompt are shown
// read-only with whatever their tool recorded.
import { basename } from 'node:path';
import { type ImageMetadataReport, hintOutputPath } from '../../engine/editor';
import type { ImageView, OutputFreshness, ProvenanceRow, ProvenanceView } from '../../shared/protocol';

type Json = Readonly<Record<string, unknown>>;

function obj(value: unknown): Json | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return typeof value === 'string' ? value : typeof value === 'bigint' ? value.toString() : JSON.stringify(value);
}

/** `resolveImage` maps a path the recipe names (project-relative) to something the webview can show. */
/** The preprocessed hints renders write on request (`figure.hint-1.png`), shown only when present. */
export const PREPROCESSED_HINT_LABEL = 'as the ControlNet saw it';

export function provenanceView(report: ImageMetadataReport, freshness: OutputFreshness, resolveImage: (path: string) => ImageView | undefined): ProvenanceView {
  const meta = report.metadata;
  const recipe = report.recipe as Json | undefined;
  const p = report.provenance;
  const rows: ProvenanceRow[] = [];
  const add = (label: string, value: unknown): void => {
    const v = text(value);
    if (v !== undefined) rows.push({ label, value: v });
  };
  add('Purpose', p.purpose ?? meta?.purpose ?? recipe?.purpose);
  add('Prompt', meta?.prompt);
  add('Negative prompt', meta?.negative);
  const model = obj(recipe?.model);
  add('Model', model?.name ?? meta?.model);
  add('Model hash', model?.hash ?? meta?.modelHash);
  for (const lora of meta?.loras ?? []) add(`LoRA ${lora.name}`, `weight ${lora.weight}${lora.hash ? ` · ${lora.hash}` : ''}`);
  add('Seed', meta?.seed);
  add('RNG', p.rng);
  add('Sampler', meta?.sampler ?? meta?.unmapped.Sampler);
  add('Schedule', meta?.schedule);
  add('Steps', meta?.steps);
  add('Guidance', meta?.guidance);
  add('Precision', meta?.precision);
  if (meta?.width && meta?.height) add('Size', `${meta.width} × ${meta.height}`);
  add('Image-to-image strength', meta?.denoise);
  add('Engine', p.engineVersion ? `imgprompt ${p.engineVersion}` : undefined);
  add('ONNX Runtime', p.onnxruntimeVersion);
  add('Recipe hash', p.recipeHash);
  add('Created with', p.creatorTool);
  add('Audience', p.audience);
  add('Watermark (recorded)', p.watermark ? `${p.watermark.payload} · ${p.watermark.algorithm}` : undefined);
  if (meta && meta.source !== 'imgprompt') for (const [key, value] of Object.entries(meta.unmapped)) add(key, value);

  const hints: { label: string; image?: ImageView }[] = [];
  const controls = Array.isArray(recipe?.control) ? (recipe.control as unknown[]) : [];
  for (const [i, control] of controls.map(obj).entries()) {
    const image = text(control?.image);
    if (!image) continue;
    const view = resolveImage(image);
    const type = text(control?.type) ?? 'hint';
    hints.push({ label: `${type}: ${image} (strength ${text(control?.strength) ?? '?'})`, ...(view ? { image: view } : {}) });
    const saved = hintOutputPath(report.file, i + 1);
    const savedView = resolveImage(saved);
    hints.push({ label: `${type} hint ${PREPROCESSED_HINT_LABEL}: ${basename(saved)}`, ...(savedView ? { image: savedView } : {}) });
  }
  const init = obj(recipe?.init);
  const initImage = text(init?.image) ?? meta?.initImage;
  if (initImage) {
    const view = resolveImage(initImage);
    hints.push({ label: `init image: ${initImage} (strength ${text(init?.strength) ?? text(meta?.denoise) ?? '?'})`, ...(view ? { image: view } : {}) });
  }

  const source = meta?.source ?? 'none';
  const disclosure = p.aiGenerated
    ? 'AI-generated: the embedded XMP marks this image as trainedAlgorithmicMedia (IPTC digital source type).'
    : p.digitalSourceType
      ? `Digital source type: ${p.digitalSourceType}`
      : source === 'none'
        ? 'No generation metadata: nothing says how this image was made.'
        : 'This image carries generation parameters but no machine-readable AI-generated marking.';
  return { file: report.file, source, foreign: source !== 'imgprompt', aiGenerated: p.aiGenerated, disclosure, freshness, rows, hints, warnings: report.warnings };
}
