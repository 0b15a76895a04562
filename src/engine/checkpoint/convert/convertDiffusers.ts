// Converts a diffusers folder of safetensors (as Hugging Face hosts SD 1.x, 2.x and SDXL: model_index.json,
// unet/ vae/ text_encoder/ [text_encoder_2/] with their config.json and weights, tokenizer/ [tokenizer_2/],
// scheduler/) into the
// diffusers/optimum ONNX layout, through the same graph builders as single-file checkpoints: the weights
// already carry the diffusers names the builders read, and the configs are the folder's own. Float16
// weights are referenced through hard links to the folder's weight files, as for single files
// (convertCheckpoint.ts), and copied where a link cannot be made.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { InputError } from '../../errors';
import { nodeFileSystem, readTextBounded, type SceneFileSystem } from '../../io/sceneFileSystem';
import { readSafetensors } from '../../lora/safetensors';
import type { LinkFunction } from '../../onnx/externalDataWriter';
import type { ClipTextConfig } from './clipTextGraph';
import { assembleModelFolder, type ConvertProgress } from './convertCheckpoint';
import type { UNetConfig } from './unetGraph';
import type { VaeConfig } from './vaeGraph';
import { safetensorsWeights } from './weightSource';

/** The weights file of a component, in the names diffusers saves (full precision first, then fp16 variants). */
const WEIGHT_FILES: Readonly<Record<string, readonly string[]>> = {
  unet: ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'],
  vae: ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'],
  text_encoder: ['model.safetensors', 'model.fp16.safetensors'],
  text_encoder_2: ['model.safetensors', 'model.fp16.safetensors'],
};

function weightsFile(dir: string, component: string): string | undefined {
  return WEIGHT_FILES[component].map((f) => join(dir, component, f)).find((p) => existsSync(p));
}

/**
 * True for a diffusers pipeline folder of PyTorch weights rather than an ONNX export: its UNet has no
 * model.onnx (one stat, which settles every ONNX export) and its model_index.json names no `vae_decoder`
 * but a diffusers `unet` and `vae`. Through the scene layer's file system, as the editor asks on every
 * keystroke.
 */
export function isDiffusersPipelineFolder(dir: string, fs: Pick<SceneFileSystem, 'readText' | 'stat'> = nodeFileSystem): boolean {
  if (fs.stat(join(dir, 'unet', 'model.onnx')) === 'file') return false;
  let index: unknown;
  try {
    index = JSON.parse(fs.readText(join(dir, 'model_index.json')) ?? 'null');
  } catch {
    return false; // unreadable or malformed: readModelConfig reports it
  }
  if (typeof index !== 'object' || index === null) return false;
  const entries = index as Record<string, unknown>;
  const library = (entry: unknown) => (Array.isArray(entry) ? entry[0] : undefined);
  return !('vae_decoder' in entries) && library(entries.vae) === 'diffusers' && library(entries.unet) === 'diffusers';
}

/** The files whose content a conversion depends on (weights, configs, tokenizer, scheduler). */
export function diffusersFolderInputs(dir: string): string[] {
  const tokenizerFiles = ['vocab.json', 'merges.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];
  const files = ['model_index.json', 'scheduler/scheduler_config.json', ...tokenizerFiles.flatMap((f) => [`tokenizer/${f}`, `tokenizer_2/${f}`])].map((f) => join(dir, f));
  for (const component of ['unet', 'vae', 'text_encoder', 'text_encoder_2']) {
    files.push(join(dir, component, 'config.json'));
    const weights = weightsFile(dir, component);
    if (weights) files.push(weights);
  }
  return files.filter((f) => existsSync(f));
}

function readConfig(path: string): Record<string, unknown> {
  const text = readTextBounded(path);
  if (text === undefined) throw new InputError('missing: a diffusers folder has a config.json beside each component\'s weights', path);
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new InputError(`malformed JSON: ${(error as Error).message}`, path);
  }
}

export interface ConvertDiffusersOptions {
  readonly out: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ConvertProgress) => void;
  /** How hard links to the weight files are made (fs.linkSync; tests inject failures); false copies instead. */
  readonly link?: LinkFunction | false;
}

/** Converts the diffusers folder `dir` into an ONNX model folder at `options.out`. */
export async function convertDiffusersFolder(dir: string, options: ConvertDiffusersOptions): Promise<void> {
  if (existsSync(options.out)) throw new InputError('the folder to convert into already exists; choose a new folder', options.out);
  const open = async (component: string) => {
    const file = weightsFile(dir, component);
    if (!file) throw new InputError(`the diffusers folder has no ${component} weights (${WEIGHT_FILES[component].join(' or ')})`, join(dir, component));
    // Text encoder files may also hold int64 buffers (position_ids); the builders never read them.
    return safetensorsWeights(await readSafetensors(file, { signal: options.signal, anyDtype: true }));
  };
  const hasTokenizer = (folder: string) => existsSync(join(folder, 'vocab.json')) || existsSync(join(folder, 'tokenizer.json'));
  // SDXL: a second encoder (CLIPTextModelWithProjection) and its tokenizer, which pads with "!".
  const xl = existsSync(join(dir, 'text_encoder_2', 'config.json'));
  const tokenizer2Dir = join(dir, 'tokenizer_2');
  const index = readConfig(join(dir, 'model_index.json'));
  // The SDXL refiner: text_encoder and tokenizer are [null, null] in model_index.json; it has only the second pair.
  const absent = (component: string) => Array.isArray(index[component]) && (index[component] as unknown[]).every((v) => v === null);
  const refiner = xl && absent('text_encoder');
  const tokenizerDir = refiner ? tokenizer2Dir : join(dir, 'tokenizer');
  if (!hasTokenizer(tokenizerDir)) {
    throw new InputError(`the diffusers folder has no CLIP tokenizer (${refiner ? 'tokenizer_2' : 'tokenizer'}/vocab.json + merges.txt or tokenizer.json)`, tokenizerDir);
  }
  const aesthetics = index.requires_aesthetics_score === true;
  const unetConfig = readConfig(join(dir, 'unet', 'config.json'));
  await assembleModelFolder(options.out, {
    ...(refiner ? {} : { textEncoder: { config: readConfig(join(dir, 'text_encoder', 'config.json')) as unknown as ClipTextConfig, weights: await open('text_encoder') } }),
    ...(xl
      ? {
          textEncoder2: { config: readConfig(join(dir, 'text_encoder_2', 'config.json')) as unknown as ClipTextConfig, weights: await open('text_encoder_2') },
          ...(hasTokenizer(tokenizer2Dir) ? { tokenizer2Dir } : {}),
          ...(typeof index.force_zeros_for_empty_prompt === 'boolean' ? { forceZerosForEmptyPrompt: index.force_zeros_for_empty_prompt } : {}),
          ...(aesthetics ? { requiresAestheticsScore: true } : {}),
        }
      : {}),
    // The UNet's time ids (five with an aesthetic score) are the pipeline's fact, stated in model_index.json.
    unet: { config: (aesthetics ? { ...unetConfig, requires_aesthetics_score: true } : unetConfig) as unknown as UNetConfig, weights: await open('unet') },
    vae: { config: readConfig(join(dir, 'vae', 'config.json')) as unknown as VaeConfig, weights: await open('vae') },
    scheduler: readConfig(join(dir, 'scheduler', 'scheduler_config.json')),
    tokenizerDir,
    convertedFrom: basename(dir),
    signal: options.signal,
    onProgress: options.onProgress,
    link: options.link,
  });
}
