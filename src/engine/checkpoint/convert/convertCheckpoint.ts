// Turns an SD 1.x single-file checkpoint (`.safetensors`, LDM key layout, fp32/fp16/bf16) into a model
// folder in the diffusers/optimum ONNX layout that the engine runs like any export: configs inferred
// from the tensor shapes, graphs written by the builders in this folder with the checkpoint's tensors
// streamed into external data (widened to float32), the scheduler SD 1.x publishes, and a CLIP
// tokenizer (single files carry none). Written into a temporary folder beside the target and renamed
// into place, so a failed or cancelled conversion leaves nothing half-made.
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import { InputError, ModelError, throwIfAborted } from '../../errors';
import { readTextBounded } from '../../io/sceneFileSystem';
import { readSafetensors } from '../../lora/safetensors';
import { ExternalDataWriter } from '../../onnx/graphBuilder';
import { readCheckpointHeader } from '../checkpointHeader';
import { checkpointSummary, describeCheckpoint, type CheckpointDescription } from '../detectCheckpoint';
import { buildClipTextGraph, type ClipTextConfig } from './clipTextGraph';
import { inferLdmConfigs, type LdmConfigs } from './inferLdmConfig';
import { ldmClipWeights } from './ldmClipNames';
import { ldmUnetWeights } from './ldmUnetNames';
import { ldmVaeWeights } from './ldmVaeNames';
import { buildUNetGraph, type UNetConfig } from './unetGraph';
import { buildVaeDecoderGraph, buildVaeEncoderGraph, type VaeConfig } from './vaeGraph';
import { safetensorsWeights, type WeightSource } from './weightSource';

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
}

export interface ConvertResult {
  readonly folder: string;
  readonly description: CheckpointDescription;
  readonly configs: LdmConfigs;
  /** Where the tokenizer came from. */
  readonly tokenizer: string;
  readonly milliseconds: number;
}

const TOKENIZER_FILES = [['vocab.json', 'merges.txt'], ['tokenizer.json']];

function isTokenizerFolder(dir: string): boolean {
  return TOKENIZER_FILES.some((files) => files.every((f) => existsSync(join(dir, f))));
}

/**
 * The CLIP tokenizer for a single-file checkpoint: the folder given; else a `tokenizer/` folder beside
 * the checkpoint; else CLIP ViT-L/14's (the tokenizer SD 1.x was trained with) from the Hugging Face cache,
 * `models--openai--clip-vit-large-patch14` or `models--runwayml--stable-diffusion-v1-5`'s tokenizer/.
 */
export function findTokenizer(checkpoint: string, given: string | undefined, env: NodeJS.ProcessEnv): string {
  const tried: string[] = [];
  const candidates = given ? [given] : [join(dirname(checkpoint), 'tokenizer')];
  if (!given) {
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
      for (const rev of revisions) candidates.push(join(snapshots, rev, sub));
    }
  }
  for (const dir of candidates) {
    if (isTokenizerFolder(dir)) return dir;
    tried.push(dir);
  }
  throw new InputError(
    `a single-file checkpoint carries no tokenizer, and no CLIP tokenizer was found (looked in ${tried.join(', ')}); ` +
      'give one with --tokenizer DIR (a folder with vocab.json and merges.txt, e.g. the tokenizer/ of any SD 1.5 download)',
    checkpoint,
  );
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

async function writeComponent(root: string, name: string, config: unknown, build: (external: ExternalDataWriter) => Promise<Uint8Array>): Promise<void> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const external = new ExternalDataWriter(join(dir, 'model.onnx_data'), 'model.onnx_data');
  try {
    writeFileSync(join(dir, 'model.onnx'), await build(external));
  } finally {
    external.close();
  }
  if (config !== undefined) writeJson(join(dir, 'config.json'), config);
}

/** The parts of a model folder to write: each component's config and weights (by diffusers names). */
export interface ModelFolderParts {
  readonly textEncoder: { readonly config: ClipTextConfig; readonly weights: WeightSource };
  /** SDXL's second encoder (CLIPTextModelWithProjection); both encoders then output every hidden state. */
  readonly textEncoder2?: { readonly config: ClipTextConfig; readonly weights: WeightSource };
  /** The second encoder's tokenizer (SDXL: pads with "!"); the first's when absent. */
  readonly tokenizer2Dir?: string;
  /** model_index.json's force_zeros_for_empty_prompt to carry over (SDXL pipelines). */
  readonly forceZerosForEmptyPrompt?: boolean;
  readonly unet: { readonly config: UNetConfig; readonly weights: WeightSource };
  readonly vae: { readonly config: VaeConfig; readonly weights: WeightSource };
  readonly scheduler: Readonly<Record<string, unknown>>;
  readonly tokenizerDir: string;
  /** The file or folder converted, recorded in model_index.json. */
  readonly convertedFrom: string;
  readonly notes?: Readonly<Record<string, unknown>>;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ConvertProgress) => void;
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
    const steps: [string, unknown, (external: ExternalDataWriter) => Promise<Uint8Array>][] = [
      ['text_encoder', t.config, (x) => buildClipTextGraph(t.config, t.weights, x, { signal, hiddenStates: xl })],
      ...(t2 ? [['text_encoder_2', t2.config, (x: ExternalDataWriter) => buildClipTextGraph(t2.config, t2.weights, x, { signal, hiddenStates: true, projection: true })] as (typeof steps)[number]] : []),
      ['unet', u.config, (x) => buildUNetGraph(u.config, u.weights, x, { signal, timestep: 'float32', controlNetResiduals: true })],
      ['vae_decoder', v.config, (x) => buildVaeDecoderGraph(v.config, v.weights, x, { signal })],
      ['vae_encoder', v.config, (x) => buildVaeEncoderGraph(v.config, v.weights, x, { signal })],
    ];
    for (const [i, [name, config, build]] of steps.entries()) {
      throwIfAborted(signal);
      parts.onProgress?.({ component: name, done: i, total: steps.length });
      await writeComponent(temp, name, config, build);
    }
    parts.onProgress?.({ component: 'done', done: steps.length, total: steps.length });
    mkdirSync(join(temp, 'scheduler'));
    writeJson(join(temp, 'scheduler', 'scheduler_config.json'), parts.scheduler);
    const tokenizers: [string, string][] = [['tokenizer', parts.tokenizerDir], ...(xl ? [['tokenizer_2', parts.tokenizer2Dir ?? parts.tokenizerDir] as [string, string]] : [])];
    for (const [name, from] of tokenizers) {
      mkdirSync(join(temp, name));
      for (const f of readdirSync(from)) {
        if (/^(vocab\.json|merges\.txt|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json)$/.test(f)) copyFileSync(join(from, f), join(temp, name, f));
      }
    }
    writeJson(join(temp, 'model_index.json'), {
      _class_name: xl ? 'ORTStableDiffusionXLPipeline' : 'OnnxStableDiffusionPipeline',
      _diffusers_version: '0.25.0',
      ...(xl && parts.forceZerosForEmptyPrompt !== undefined ? { force_zeros_for_empty_prompt: parts.forceZerosForEmptyPrompt } : {}),
      scheduler: ['diffusers', parts.scheduler._class_name],
      text_encoder: ['diffusers', 'OnnxRuntimeModel'],
      ...(xl ? { text_encoder_2: ['diffusers', 'OnnxRuntimeModel'], tokenizer_2: ['transformers', 'CLIPTokenizer'] } : {}),
      tokenizer: ['transformers', 'CLIPTokenizer'],
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
  if (description.family !== 'sd1' || description.layout !== 'ldm') {
    throw new ModelError(`this converter reads Stable Diffusion 1.x single-file checkpoints; this file is: ${checkpointSummary(description)}`, file);
  }
  const yamlPath = join(dirname(file), `${basename(file, extname(file))}.yaml`);
  const yaml = existsSync(yamlPath) ? readTextBounded(yamlPath, 1024 * 1024) : undefined;
  const checkpoint = await readSafetensors(file, { signal, anyDtype: true });
  const configs = inferLdmConfigs(checkpoint.tensors, file, yaml);
  const tokenizer = findTokenizer(file, options.tokenizerDir, options.env ?? process.env);
  const source: WeightSource = safetensorsWeights(checkpoint);

  const text = configs.textEncoder as unknown as ClipTextConfig;
  const unet = configs.unet as unknown as UNetConfig;
  const vae = configs.vae as unknown as VaeConfig;
  await assembleModelFolder(out, {
    textEncoder: { config: text, weights: ldmClipWeights(source) },
    unet: { config: unet, weights: ldmUnetWeights(source) },
    vae: { config: vae, weights: ldmVaeWeights(source) },
    scheduler: configs.scheduler,
    tokenizerDir: tokenizer,
    convertedFrom: basename(file),
    notes: { prediction_type_source: configs.prediction.source },
    signal,
    onProgress: options.onProgress,
  });
  return { folder: out, description, configs, tokenizer, milliseconds: performance.now() - started };
}
