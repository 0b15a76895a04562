// Turns an SD 1.x / 2.x single-file checkpoint (`.safetensors`, LDM key layout, fp32/fp16/bf16) into a model
// folder in the diffusers/optimum ONNX layout that the engine runs like any export: configs inferred
// from the tensor shapes, graphs written by the builders in this folder with the checkpoint's tensors
// streamed into external data (widened to float32), the scheduler SD 1.x publishes, and a CLIP
// tokenizer (single files carry none). Written into a temporary folder beside the target and renamed
// into place, so a failed or cancelled conversion leaves nothing half-made.
//
// Float16 tensors the graphs keep as they are stored (every conv and linear weight of an fp16 checkpoint)
// are not copied: each component folder gets a hard link to the checkpoint (`checkpoint.safetensors`)
// and the graph points into it at the tensors' own offsets (ExternalDataWriter linkSources), so
// converting an fp16 SD 1.5 file writes a few hundred MB (biases, norms, embeddings) instead of 2.2 GB.
// Each link's identity (inode, size, mtime) is recorded in LINKED_SOURCES_FILE: an in-place edit of the
// user's file would change the folder's weights under it, and convertedCheckpoints.ts treats a folder
// whose links no longer match as gone. Where a link cannot be made (another filesystem...) the tensors
// are copied as before.
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import { InputError, ModelError, throwIfAborted } from '../../errors';
import { readTextBounded } from '../../io/sceneFileSystem';
import { readSafetensors } from '../../lora/safetensors';
import { ExternalDataWriter } from '../../onnx/graphBuilder';
import type { LinkedSource, LinkFunction } from '../../onnx/externalDataWriter';
import { readCheckpointHeader } from '../checkpointHeader';
import { CLIP_BPE_FILE, readClipBpeVocabulary, shippedClipBpePath } from '../../tokenizer/clipBpeVocabulary';
import { checkpointSummary, describeCheckpoint, type CheckpointDescription } from '../detectCheckpoint';
import { buildClipTextGraph, type ClipTextConfig } from './clipTextGraph';
import { inferSdxlConfigs, sdxlFolderParts, type SdxlConfigs } from './convertSdxlCheckpoint';
import { inferLdmConfigs, OPEN_CLIP_PREFIX, populationStd, SD2_V_PROBE, type LdmConfigs } from './inferLdmConfig';
import { ldmClipWeights } from './ldmClipNames';
import { ldmUnetWeights } from './ldmUnetNames';
import { ldmVaeWeights } from './ldmVaeNames';
import { openClipAsClipTextWeights, openClipTextShape } from './openClipTextGraph';
import { buildUNetGraph, type UNetConfig } from './unetGraph';
import { buildVaeDecoderGraph, buildVaeEncoderGraph, type VaeConfig } from './vaeGraph';
import { pacedWeights, safetensorsWeights, type WeightSource } from './weightSource';

export interface ConvertProgress {
  /** `text_encoder`, `unet`, `vae_decoder`, `vae_encoder`. */
  readonly component: string;
  /** Components finished, of `total`. */
  readonly done: number;
  readonly total: number;
}

export interface ConvertOptions {
  /** The model folder to create; it must not exist yet. */
  readonly out: string;
  /** A CLIP tokenizer folder (vocab.json + merges.txt, or tokenizer.json); else found as described in findTokenizer. */
  readonly tokenizerDir?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ConvertProgress) => void;
  /** How hard links to the checkpoint are made (fs.linkSync; tests inject failures); false copies instead. */
  readonly link?: LinkFunction | false;
}

export interface ConvertResult {
  readonly folder: string;
  readonly description: CheckpointDescription;
  readonly configs: LdmConfigs | SdxlConfigs;
  /** Where the tokenizer came from: a folder, or the CLIP vocabulary file. */
  readonly tokenizer: string;
  readonly milliseconds: number;
}

/** stabilityai/stable-diffusion-2-1's tokenizer/special_tokens_map.json. */
const SD2_SPECIAL_TOKENS = { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', pad_token: '!', unk_token: '<|endoftext|>' };

/** The most bytes of weights read but not yet written while converting (the write-behind queue). */
const WRITE_BEHIND_BYTES = 256 * 1024 * 1024;

const TOKENIZER_FILES = [['vocab.json', 'merges.txt'], ['tokenizer.json']];

function isTokenizerFolder(dir: string): boolean {
  return TOKENIZER_FILES.some((files) => files.every((f) => existsSync(join(dir, f))));
}

/** Where a single-file checkpoint's tokenizer comes from: a tokenizer folder, or CLIP's BPE vocabulary file. */
export type TokenizerSource = { readonly kind: 'folder'; readonly path: string } | { readonly kind: 'clip-bpe'; readonly path: string };

/**
 * The CLIP tokenizer for a single-file checkpoint: the folder given; else a `tokenizer/` folder beside
 * the checkpoint; else the CLIP vocabulary this package ships (vocab/bpe_simple_vocab_16e6.txt.gz, the
 * vocabulary every SD 1.x/2.x text encoder was trained with); else, where that file is missing from an
 * install, CLIP ViT-L/14's from the Hugging Face cache (`models--openai--clip-vit-large-patch14` or an
 * SD 1.5 repository's tokenizer/). `shippedBpe` overrides where the shipped file is looked for.
 */
export function findTokenizer(checkpoint: string, given: string | undefined, env: NodeJS.ProcessEnv, shippedBpe: string | undefined = shippedClipBpePath()): TokenizerSource {
  const tried: string[] = [];
  if (given) {
    if (isTokenizerFolder(given)) return { kind: 'folder', path: given };
    tried.push(given);
  } else {
    const beside = join(dirname(checkpoint), 'tokenizer');
    if (isTokenizerFolder(beside)) return { kind: 'folder', path: beside };
    tried.push(beside);
    if (shippedBpe !== undefined && existsSync(shippedBpe)) return { kind: 'clip-bpe', path: shippedBpe };
    tried.push(shippedBpe ?? `vocab/${CLIP_BPE_FILE} of this package`);
    const hub = env.HF_HUB_CACHE || join(env.HF_HOME || join(homedir(), '.cache', 'huggingface'), 'hub');
    for (const [repo, sub] of [['models--openai--clip-vit-large-patch14', ''], ['models--runwayml--stable-diffusion-v1-5', 'tokenizer'], ['models--stable-diffusion-v1-5--stable-diffusion-v1-5', 'tokenizer']]) {
      const snapshots = join(hub, repo, 'snapshots');
      let revisions: string[] = [];
      try {
        revisions = readdirSync(snapshots).sort();
      } catch {
        tried.push(snapshots);
        continue;
      }
      for (const rev of revisions) {
        const dir = join(snapshots, rev, sub);
        if (isTokenizerFolder(dir)) return { kind: 'folder', path: dir };
        tried.push(dir);
      }
    }
  }
  throw new InputError(
    `a single-file checkpoint carries no tokenizer, and no CLIP tokenizer was found (looked in ${tried.join(', ')}); ` +
      'give one with --tokenizer DIR (a folder with vocab.json and merges.txt, e.g. the tokenizer/ of any SD 1.5 download)',
    checkpoint,
  );
}

/** The tokenizer files a converted folder gets from `source`: read from CLIP's BPE file, or copied from a folder. */
export async function tokenizerFilesOf(source: TokenizerSource): Promise<{ readonly dir?: string; readonly files?: Readonly<Record<string, string>> }> {
  if (source.kind === 'folder') return { dir: source.path };
  const { vocabJson, mergesTxt } = await readClipBpeVocabulary(source.path);
  return { files: { 'vocab.json': vocabJson, 'merges.txt': mergesTxt } };
}

const TOKENIZER_FILE = /^(vocab\.json|merges\.txt|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json)$/;

/** A tokenizer folder at `to`: the files of `dir` copied, then `files` written over them. */
function writeTokenizer(to: string, dir: string | undefined, files: Readonly<Record<string, string>> | undefined): void {
  mkdirSync(to);
  for (const f of dir === undefined ? [] : readdirSync(dir)) {
    if (TOKENIZER_FILE.test(f)) copyFileSync(join(dir as string, f), join(to, f));
  }
  for (const [f, text] of Object.entries(files ?? {})) {
    if (!TOKENIZER_FILE.test(f)) throw new Error(`internal: '${f}' is not a tokenizer file name`);
    writeFileSync(join(to, f), text);
  }
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** The record of a converted folder's hard links: `{ "links": [{ path, ino, size, mtimeMs }] }`, paths relative to the folder. */
export const LINKED_SOURCES_FILE = 'linked_sources.json';

/** One recorded link: where it is in the folder and the identity the source had when it was linked. */
export interface LinkRecord {
  readonly path: string;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

/** Writes component `name` under `root`; returns the hard links its weights point into. */
async function writeComponent(root: string, name: string, config: unknown, build: (external: ExternalDataWriter) => Promise<Uint8Array>, link: LinkFunction | false | undefined): Promise<LinkRecord[]> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  // Weights are written behind the reads (see pacedWeights); model.onnx only once they all are.
  const external = new ExternalDataWriter(join(dir, 'model.onnx_data'), 'model.onnx_data', { writeBehind: true, linkSources: link !== false, ...(link ? { link } : {}) });
  let linked: LinkedSource[];
  try {
    const graph = await build(external);
    await external.finish();
    writeFileSync(join(dir, 'model.onnx'), graph);
    linked = external.linkedSources();
  } finally {
    await external.settle();
    external.close();
  }
  if (config !== undefined) writeJson(join(dir, 'config.json'), config);
  return linked.map((l) => ({ path: `${name}/${l.location}`, ino: l.ino, size: l.size, mtimeMs: l.mtimeMs }));
}

/** The parts of a model folder to write: each component's config and weights (by diffusers names). */
export interface ModelFolderParts {
  /** The first text encoder; absent for the SDXL refiner, which has only `textEncoder2`. */
  readonly textEncoder?: { readonly config: ClipTextConfig; readonly weights: WeightSource };
  /** SDXL's second encoder (CLIPTextModelWithProjection); both encoders then output every hidden state. */
  readonly textEncoder2?: { readonly config: ClipTextConfig; readonly weights: WeightSource };
  /** The second encoder's tokenizer (SDXL: pads with "!"); the first's when absent. */
  readonly tokenizer2Dir?: string;
  /** model_index.json's force_zeros_for_empty_prompt to carry over (SDXL pipelines). */
  readonly forceZerosForEmptyPrompt?: boolean;
  /** model_index.json's requires_aesthetics_score (the SDXL refiner: five time ids ending in an aesthetic score). */
  readonly requiresAestheticsScore?: boolean;
  readonly unet: { readonly config: UNetConfig; readonly weights: WeightSource };
  readonly vae: { readonly config: VaeConfig; readonly weights: WeightSource };
  readonly scheduler: Readonly<Record<string, unknown>>;
  /** A tokenizer folder whose files are copied (vocab.json, merges.txt, tokenizer.json and their configs)... */
  readonly tokenizerDir?: string;
  /** ...and/or tokenizer files by name, written after (and over) the copied ones. */
  readonly tokenizerFiles?: Readonly<Record<string, string>>;
  /** The file or folder converted, recorded in model_index.json. */
  readonly convertedFrom: string;
  readonly notes?: Readonly<Record<string, unknown>>;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ConvertProgress) => void;
  /** How hard links to the weight files are made (ConvertOptions.link). */
  readonly link?: LinkFunction | false;
}

/**
 * Writes a model folder in the diffusers/optimum ONNX layout at `out` from the parts: the four graphs
 * (the UNet with a float timestep, as diffusers' UNet takes it, so Karras and linspace schedules keep
 * their fractional timesteps, and with ControlNet residual inputs, fed zeros when no ControlNet runs),
 * configs, scheduler, tokenizer and model_index.json — in a temporary folder renamed into place.
 */
export async function assembleModelFolder(out: string, parts: ModelFolderParts): Promise<void> {
  const { signal } = parts;
  const temp = `${out}.partial-${process.pid}`;
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp, { recursive: true });
  try {
    const { textEncoder: t, textEncoder2: t2, unet: u, vae: v } = parts;
    const xl = t2 !== undefined;
    if (!t && !t2) throw new Error('internal: a model folder needs a text encoder');
    // At most this much read and waiting to be written: the write-behind queue's bound on memory.
    const paced = (weights: WeightSource, x: ExternalDataWriter) => pacedWeights(weights, x, WRITE_BEHIND_BYTES);
    const steps: [string, unknown, (external: ExternalDataWriter) => Promise<Uint8Array>][] = [
      ...(t ? [['text_encoder', t.config, (x: ExternalDataWriter) => buildClipTextGraph(t.config, paced(t.weights, x), x, { signal, hiddenStates: xl })] as (typeof steps)[number]] : []),
      ...(t2 ? [['text_encoder_2', t2.config, (x: ExternalDataWriter) => buildClipTextGraph(t2.config, paced(t2.weights, x), x, { signal, hiddenStates: true, projectionDim: (t2.config as ClipTextConfig & { projection_dim?: number }).projection_dim ?? t2.config.hidden_size })] as (typeof steps)[number]] : []),
      ['unet', u.config, (x) => buildUNetGraph(u.config, paced(u.weights, x), x, { signal, timestep: 'float32', controlNetResiduals: true })],
      ['vae_decoder', v.config, (x) => buildVaeDecoderGraph(v.config, paced(v.weights, x), x, { signal })],
      ['vae_encoder', v.config, (x) => buildVaeEncoderGraph(v.config, paced(v.weights, x), x, { signal })],
    ];
    const links: LinkRecord[] = [];
    for (const [i, [name, config, build]] of steps.entries()) {
      throwIfAborted(signal);
      parts.onProgress?.({ component: name, done: i, total: steps.length });
      links.push(...(await writeComponent(temp, name, config, build, parts.link)));
    }
    if (links.length > 0) writeJson(join(temp, LINKED_SOURCES_FILE), { links });
    parts.onProgress?.({ component: 'done', done: steps.length, total: steps.length });
    mkdirSync(join(temp, 'scheduler'));
    writeJson(join(temp, 'scheduler', 'scheduler_config.json'), parts.scheduler);
    if (parts.tokenizerDir === undefined && parts.tokenizerFiles === undefined) throw new Error('internal: a model folder needs a tokenizer');
    if (t) writeTokenizer(join(temp, 'tokenizer'), parts.tokenizerDir, parts.tokenizerFiles);
    // SDXL's second tokenizer: its own folder when the source has one, else the first's files padded with '!' (id 0), as open_clip pads.
    if (xl) {
      if (parts.tokenizer2Dir !== undefined) writeTokenizer(join(temp, 'tokenizer_2'), parts.tokenizer2Dir, undefined);
      else writeTokenizer(join(temp, 'tokenizer_2'), parts.tokenizerDir, { ...parts.tokenizerFiles, 'special_tokens_map.json': `${JSON.stringify(SD2_SPECIAL_TOKENS, null, 2)}\n` });
    }
    writeJson(join(temp, 'model_index.json'), {
      _class_name: xl ? 'ORTStableDiffusionXLPipeline' : 'OnnxStableDiffusionPipeline',
      _diffusers_version: '0.25.0',
      ...(xl && parts.forceZerosForEmptyPrompt !== undefined ? { force_zeros_for_empty_prompt: parts.forceZerosForEmptyPrompt } : {}),
      ...(xl && parts.requiresAestheticsScore ? { requires_aesthetics_score: true } : {}),
      scheduler: ['diffusers', parts.scheduler._class_name],
      // diffusers marks a component the pipeline does without as [null, null] (the refiner's first encoder).
      text_encoder: t ? ['diffusers', 'OnnxRuntimeModel'] : [null, null],
      ...(xl ? { text_encoder_2: ['diffusers', 'OnnxRuntimeModel'], tokenizer_2: ['transformers', 'CLIPTokenizer'] } : {}),
      tokenizer: t ? ['transformers', 'CLIPTokenizer'] : [null, null],
      unet: ['diffusers', 'OnnxRuntimeModel'],
      vae_decoder: ['diffusers', 'OnnxRuntimeModel'],
      vae_encoder: ['diffusers', 'OnnxRuntimeModel'],
      imgprompt: { converted_from: parts.convertedFrom, ...parts.notes },
    });
    throwIfAborted(signal);
    renameSync(temp, out);
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    throw error;
  }
}

/** Converts `file` into a model folder at `options.out`. */
export async function convertCheckpoint(file: string, options: ConvertOptions): Promise<ConvertResult> {
  const started = performance.now();
  const { out, signal } = options;
  if (existsSync(out)) throw new InputError('the folder to convert into already exists; choose a new folder', out);
  const description = describeCheckpoint(readCheckpointHeader(file));
  if ((description.family !== 'sd1' && description.family !== 'sd2' && description.family !== 'sdxl' && description.family !== 'sdxl-refiner') || description.layout !== 'ldm') {
    throw new ModelError(`this converter reads Stable Diffusion 1.x, 2.x and XL (base and refiner) single-file checkpoints; this file is: ${checkpointSummary(description)}`, file);
  }
  if (description.family === 'sdxl' || description.family === 'sdxl-refiner') return convertSdxl(file, description, options, started);
  const sd2 = description.family === 'sd2';
  const checkpoint = await readSafetensors(file, { signal, anyDtype: true });
  const probeStd = sd2 && checkpoint.tensors.has(SD2_V_PROBE) ? populationStd(await checkpoint.tensor(SD2_V_PROBE, signal)) : undefined;
  const configs = inferLdmConfigs(checkpoint.tensors, file, sideYaml(file), probeStd);
  const tokenizerSource = findTokenizer(file, options.tokenizerDir, options.env ?? process.env);
  const tokenizerParts = await tokenizerFilesOf(tokenizerSource);
  // SD 2.x's tokenizer pads with '!' (id 0), as open_clip's tokenize does and stabilityai's tokenizer/ says.
  const tokenizerFiles = sd2 ? { ...tokenizerParts.files, 'special_tokens_map.json': `${JSON.stringify(SD2_SPECIAL_TOKENS, null, 2)}\n` } : tokenizerParts.files;
  const source: WeightSource = safetensorsWeights(checkpoint);
  const openClip = sd2 ? safetensorsWeights(checkpoint, OPEN_CLIP_PREFIX) : undefined;
  await assembleFromCheckpoint(checkpoint, file, options, {
    textEncoder: { config: configs.textEncoder as unknown as ClipTextConfig, weights: openClip ? openClipAsClipTextWeights(openClip, openClipTextShape(openClip)) : ldmClipWeights(source) },
    unet: { config: configs.unet as unknown as UNetConfig, weights: ldmUnetWeights(source) },
    vae: { config: configs.vae as unknown as VaeConfig, weights: ldmVaeWeights(source) },
    scheduler: configs.scheduler,
    tokenizerDir: tokenizerParts.dir,
    tokenizerFiles,
    notes: { prediction_type_source: configs.prediction.source },
  });
  return { folder: out, description, configs, tokenizer: tokenizerSource.path, milliseconds: performance.now() - started };
}

/** The A1111-style `<name>.yaml` beside a single file, when there is one (read bounded). */
function sideYaml(file: string): string | undefined {
  const path = join(dirname(file), `${basename(file, extname(file))}.yaml`);
  return existsSync(path) ? readTextBounded(path, 1024 * 1024) : undefined;
}

/** Writes the model folder from `checkpoint` (one file handle held for all its reads), named after `file`. */
async function assembleFromCheckpoint(
  checkpoint: Awaited<ReturnType<typeof readSafetensors>>,
  file: string,
  options: ConvertOptions,
  parts: Omit<ModelFolderParts, 'convertedFrom' | 'signal' | 'onProgress' | 'link'>,
): Promise<void> {
  const close = checkpoint.keepOpen();
  try {
    await assembleModelFolder(options.out, { ...parts, convertedFrom: basename(file), signal: options.signal, onProgress: options.onProgress, link: options.link });
  } finally {
    await close();
  }
}

/** An SDXL single file: two encoders (tokenizer_2 pads with '!'; the refiner has only the second), the text_time UNet, SDXL's VAE scaling. */
async function convertSdxl(file: string, description: CheckpointDescription, options: ConvertOptions, started: number): Promise<ConvertResult> {
  const checkpoint = await readSafetensors(file, { signal: options.signal, anyDtype: true });
  const configs = inferSdxlConfigs(checkpoint.tensors, file, sideYaml(file));
  const tokenizerSource = findTokenizer(file, options.tokenizerDir, options.env ?? process.env);
  const tokenizerParts = await tokenizerFilesOf(tokenizerSource);
  await assembleFromCheckpoint(checkpoint, file, options, {
    ...sdxlFolderParts(checkpoint, configs),
    tokenizerDir: tokenizerParts.dir,
    tokenizerFiles: tokenizerParts.files,
    notes: { prediction_type_source: configs.prediction.source },
  });
  return { folder: options.out, description, configs, tokenizer: tokenizerSource.path, milliseconds: performance.now() - started };
}
