// Turns normalised image metadata into the text of an .imgprompt scene (what `imgprompt import` writes).
// What maps to a scene key becomes that key; everything else is kept as YAML comments naming the source
// tool, so nothing the image recorded is silently dropped.
import { isAbsolute, relative, sep } from 'node:path';
import { Document } from 'yaml';
import type { ImageMetadata, MetadataSource } from './imageMetadata';
import { escapeTerminalText } from '../text/terminalText';

export interface SceneFromMetadataOptions {
  /** The image it came from, named in the header comment. */
  sourceFile?: string;
  /** The folder the scene will live in: absolute paths from our own recipes are written relative to it. */
  sceneDir?: string;
}

const LABEL: Record<MetadataSource, string> = { imgprompt: 'imgprompt', automatic1111: 'a1111', comfyui: 'comfyui', invokeai: 'invokeai' };
const MODEL_KEY: Record<MetadataSource, string> = { imgprompt: 'model', automatic1111: 'Model', comfyui: 'ckpt_name', invokeai: 'model' };

/**
 * One comment line per fact. A YAML comment cannot span lines, so newlines are shown as `\n`, and other
 * control characters (a lone CR would end the comment for YAML 1.2 readers) as escapes.
 */
function commentLine(source: MetadataSource, key: string, value: string): string {
  const text = escapeTerminalText(value.replace(/\r?\n/g, '\\n'));
  return ` ${LABEL[source]}: ${escapeTerminalText(key)}${source === 'automatic1111' ? ':' : ''} ${text}`;
}

function scenePath(file: string, sceneDir: string | undefined): string {
  if (!sceneDir || !isAbsolute(file)) return file;
  return relative(sceneDir, file).split(sep).join('/');
}

/** The scene text (YAML with comments) for the metadata. */
export function sceneFromMetadata(meta: ImageMetadata, options: SceneFromMetadataOptions = {}): string {
  const src = meta.source;
  const ours = src === 'imgprompt';
  const notes: string[] = [];
  const scene: Record<string, unknown> = {};

  if (ours && meta.model) scene.model = meta.model;
  else if (meta.model) notes.push(commentLine(src, MODEL_KEY[src], meta.model));
  if (!ours && meta.modelHash) notes.push(commentLine(src, src === 'automatic1111' ? 'Model hash' : 'model hash', meta.modelHash));
  if (meta.purpose) scene.purpose = meta.purpose;
  if (ours && meta.license) scene.license = meta.license;
  if (meta.prompt !== undefined) scene.prompt = meta.prompt.trimEnd();
  if (meta.negative) scene.negative = meta.negative.trimEnd();
  if (meta.seed !== undefined) scene.seed = meta.seed;
  if (meta.width !== undefined && meta.height !== undefined) scene.size = { width: meta.width, height: meta.height };
  if (meta.sampler) scene.sampler = meta.sampler;
  if (meta.schedule) scene.schedule = meta.schedule;
  if (meta.precision) scene.precision = meta.precision;
  if (meta.steps !== undefined) scene.steps = meta.steps;
  if (meta.guidance !== undefined) scene.guidance = meta.guidance;
  for (const [key, value] of Object.entries(meta.options ?? {})) scene[key] = value;
  if (meta.loras.length) {
    scene.loras = meta.loras.map((l) => ({
      file: l.file ? scenePath(l.file, options.sceneDir) : src === 'comfyui' || /\.[a-z]+$/i.test(l.name) ? l.name : `${l.name}.safetensors`,
      weight: l.weight,
    }));
    if (!ours) notes.push(` loras: file names as ${LABEL[src]} knew them; point each file: at your copy`);
  }
  if (meta.initImage !== undefined && meta.denoise !== undefined) {
    scene.init = { image: scenePath(meta.initImage, options.sceneDir), strength: meta.denoise };
    if (!ours) notes.push(` init: image named as ${LABEL[src]} knew it; point image: at your copy`);
  } else if (meta.denoise !== undefined) {
    notes.push(commentLine(src, src === 'automatic1111' ? 'Denoising strength' : 'denoise', `${meta.denoise} (image-to-image; the input image is not recorded)`));
  } else if (meta.initImage !== undefined) {
    notes.push(commentLine(src, 'init image', meta.initImage));
  }
  for (const [key, value] of Object.entries(meta.unmapped)) notes.push(commentLine(src, key, value));

  const doc = new Document(scene);
  const from = options.sourceFile ? ` from ${escapeTerminalText(options.sourceFile)}` : '';
  const header = [` Imported${from} (${LABEL[src]} metadata) by imgprompt import.`];
  if (notes.length) header.push(' Not mapped to scene keys, kept for reference:', ...notes);
  doc.commentBefore = header.join('\n');
  return doc.toString({ lineWidth: 0 });
}
