// Locates a model folder (diffusers / optimum ONNX layout) and reads its JSON configs into a typed
// ModelConfig: spatial grid, native size, scheduler settings, tokenizer limits and the defaults a scene
// inherits. No onnxruntime here; this runs on every keystroke in the editor.
//
// Derived sizes follow diffusers: the VAE scale factor is 2^(len(vae.block_out_channels) - 1)
// (StableDiffusionPipeline.vae_scale_factor); the UNet halves the latent once per down block except the
// last, so it needs latents divisible by 2^(len(unet.block_out_channels) - 1); the native size is
// unet.sample_size × the VAE factor. Missing fields fall back to Stable Diffusion 1.5's published configs.
// A component without a config.json (diffusers' ONNX conversion script, Olive exports) gets the config
// inferred from its graph (inferConfig.ts).
import { basename, dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import { ModelError } from '../errors';
import { nodeFileSystem, type SceneFileSystem } from '../io/sceneFileSystem';
import { inferTextEncoderConfig, inferUNetConfig, inferVAEConfig, type InferredConfig } from './inferConfig';
import { parseSchedulerConfig, type SchedulerConfig, type TimestepSpacing } from '../schedulers/SchedulerConfig';
import { inferModelDefaults, type Distillation } from './modelDefaults';
import { SAMPLERS, SCHEDULES, type SamplerName, type ScheduleName } from '../schedulers/samplerNames';
import { SDXL_BUCKETS, SDXL_NATIVE_SIZE } from './sdxlBuckets';

/** The model's scheduler: its diffusers class and the settings the samplers read (schedulers/SchedulerConfig). */
export interface ModelScheduler {
  /** diffusers class name, e.g. `EulerDiscreteScheduler`, `PNDMScheduler`. */
  className: string;
  /** The settings the file states; absent ones take each sampler's own defaults, as in diffusers. */
  config: SchedulerConfig;
  /** The whole file, for settings not modelled here. */
  raw: Readonly<Record<string, unknown>>;
}

export interface UNetConfig {
  /** Latent height and width the model was trained at. */
  sampleSize: [height: number, width: number];
  inChannels: number;
  outChannels: number;
  blockOutChannels: number[];
  downBlockTypes: string[];
  crossAttentionDim: number;
  raw: Readonly<Record<string, unknown>>;
}

export interface VAEConfig {
  scalingFactor: number;
  latentChannels: number;
  blockOutChannels: number[];
  raw: Readonly<Record<string, unknown>>;
}

export interface TextEncoderConfig {
  hiddenSize: number;
  maxPositionEmbeddings: number;
  vocabSize: number;
  raw: Readonly<Record<string, unknown>>;
}

export interface TokenizerConfig {
  modelMaxLength: number;
  doLowerCase: boolean;
  bosToken?: string;
  eosToken?: string;
  padToken?: string;
  raw: Readonly<Record<string, unknown>>;
}

/** Settings a scene inherits when it does not state them (chosen in modelDefaults.ts). */
export interface ModelDefaults {
  sampler: SamplerName;
  schedule: ScheduleName;
  steps: number;
  guidance: number;
  /** The few-step distillation (LCM, Turbo) these defaults were chosen for, if any. */
  distillation?: Distillation;
  /** A spacing the distillation needs where the scheduler config states another (see effectiveSchedulerConfig). */
  timestepSpacing?: TimestepSpacing;
}

export interface ModelConfig {
  /** Absolute path of the model folder. */
  dir: string;
  /** The folder's name, e.g. `tiny-shapes`. */
  name: string;
  /** model_index.json `_class_name`, e.g. `OnnxStableDiffusionPipeline`. */
  pipelineClass?: string;
  /** Component folders listed in model_index.json (`unet`, `vae_decoder`, ...). */
  components: string[];
  scheduler: ModelScheduler;
  unet: UNetConfig;
  vae: VAEConfig;
  /** The first text encoder's config (the SDXL refiner's only one, text_encoder_2, when it has no text_encoder). */
  textEncoder: TextEncoderConfig;
  tokenizer: TokenizerConfig;
  /** Pixels per latent cell (8 for SD). */
  vaeScaleFactor: number;
  /** How often the UNet halves the latent (8 for SD 1.5's four blocks). */
  unetDownsampleFactor: number;
  /** Width and height must be multiples of this: vaeScaleFactor × unetDownsampleFactor. */
  grid: number;
  nativeWidth: number;
  nativeHeight: number;
  /**
   * Sizes the model was trained at: model_index.json's `imgprompt.buckets`, else SDXL's published sizes
   * for a 1024² model with a second text encoder, else none.
   */
  buckets: { width: number; height: number }[];
  /** model_index.json `force_zeros_for_empty_prompt` (diffusers' SDXL pipelines), when stated. */
  forceZerosForEmptyPrompt?: boolean;
  /** model_index.json's requires_aesthetics_score (SDXL's refiner): time_ids end with an aesthetic score instead of the target size. */
  requiresAestheticsScore?: boolean;
  defaults: ModelDefaults;
  /**
   * ControlNet folders by hint type (absolute paths), from model_index.json `imgprompt.controlnets`
   * (`{"canny": "controlnet/canny"}`); `controlNetDir` also finds undeclared `controlnet/<type>/` folders.
   */
  controlnets: Record<string, string>;
}

/** Where `model:` was found. */
export interface ModelLocation {
  dir: string;
  /** `path`: written as a path relative to the scene; `search`: a configured model folder; `builtin`; `hub`: an `hf:` reference in the hub cache. */
  via: 'path' | 'search' | 'builtin' | 'hub';
  /** A location-independent name for hashing: the bare name, or the project-relative path. */
  name: string;
}

export interface ModelLookup {
  /** Folder of the scene; relative model paths resolve against it. */
  sceneDir: string;
  /** Configured model folders, searched in order for a bare name. */
  modelSearchPaths?: readonly string[];
  /** The built-in models/ folder, searched last. */
  builtinModelsDir?: string;
  fs?: SceneFileSystem;
}

/** A bare name has no path separator and does not start with a dot: `tiny-shapes`, not `./tiny-shapes`. */
export function isBareModelName(ref: string): boolean {
  return !/[\\/]/.test(ref) && !ref.startsWith('.') && !isAbsolute(ref);
}

/**
 * Finds the folder `ref` names. Returns the location, or `searched` (every folder tried, in order) when
 * nothing matched. Only stats; reads nothing.
 */
export function locateModel(ref: string, lookup: ModelLookup): ModelLocation | { searched: string[] } {
  const fs = lookup.fs ?? nodeFileSystem;
  if (!isBareModelName(ref)) {
    const dir = resolve(lookup.sceneDir, ref);
    return fs.stat(dir) === 'directory' ? { dir, via: 'path', name: ref } : { searched: [dir] };
  }
  const searched: string[] = [];
  const places: [string, ModelLocation['via']][] = [
    ...(lookup.modelSearchPaths ?? []).map((p): [string, ModelLocation['via']] => [p, 'search']),
    ...(lookup.builtinModelsDir ? [[lookup.builtinModelsDir, 'builtin'] as [string, ModelLocation['via']]] : []),
  ];
  for (const [folder, via] of places) {
    const dir = resolve(lookup.sceneDir, folder, ref);
    searched.push(dir);
    if (fs.stat(dir) === 'directory') return { dir, via, name: ref };
  }
  return { searched };
}

type Json = Record<string, unknown>;

function readJson(fs: SceneFileSystem, path: string, required: boolean): Json | undefined {
  let text: string | undefined;
  try {
    text = fs.readText(path);
  } catch (error) {
    throw new ModelError(`cannot read: ${error instanceof Error ? error.message : String(error)}`, path);
  }
  if (text === undefined) {
    if (required) throw new ModelError('missing (every model folder needs it)', path);
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ModelError(`malformed JSON: ${error instanceof Error ? error.message : String(error)}`, path);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ModelError('expected a JSON object', path);
  }
  return value as Json;
}

/** Typed field access that names the file and field when an export has something unexpected. */
class Fields {
  constructor(
    private readonly json: Json,
    private readonly path: string,
  ) {}

  private bad(key: string, expected: string): never {
    throw new ModelError(`field '${key}' is ${JSON.stringify(this.json[key])}; expected ${expected}`, this.path);
  }

  number(key: string, fallback: number, positive = false): number {
    const v = this.json[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0)) this.bad(key, positive ? 'a positive number' : 'a number');
    return v;
  }

  string(key: string, fallback: string): string {
    const v = this.json[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string') this.bad(key, 'a string');
    return v;
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.json[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.bad(key, 'true or false');
    return v;
  }

  numbers(key: string, fallback: number[]): number[] {
    const v = this.json[key];
    if (v === undefined || v === null) return fallback;
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && x > 0)) this.bad(key, 'a non-empty list of positive numbers');
    return v as number[];
  }

  strings(key: string, fallback: string[]): string[] {
    const v = this.json[key];
    if (v === undefined || v === null) return fallback;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) this.bad(key, 'a list of strings');
    return v as string[];
  }

  /** Tokenizer special tokens are a string or an AddedToken object `{ content: string }`. */
  token(key: string): string | undefined {
    const v = this.json[key];
    if (typeof v === 'string') return v;
    if (typeof v === 'object' && v !== null && typeof (v as Json).content === 'string') return (v as Json).content as string;
    return undefined;
  }
}

// Stable Diffusion 1.5's values, used where an export leaves a field out.
const SD15_UNET_BLOCKS = [320, 640, 1280, 1280];
const SD15_VAE_BLOCKS = [128, 256, 512, 512];
const SD15_VAE_SCALING = 0.18215;

function readScheduler(fs: SceneFileSystem, dir: string): ModelScheduler {
  const path = join(dir, 'scheduler', 'scheduler_config.json');
  const json = readJson(fs, path, false) ?? {};
  const className = json._class_name;
  if (className !== undefined && typeof className !== 'string') throw new ModelError(`_class_name must be a string, got ${JSON.stringify(className)}`, path);
  return { className: className ?? 'PNDMScheduler', config: parseSchedulerConfig(json, path), raw: json };
}

/** A component's config.json, else the config `infer` builds from its graph, else nothing (the defaults). */
function componentConfig(fs: SceneFileSystem, path: string, infer: () => InferredConfig | undefined): { json: Json; path: string } {
  const json = readJson(fs, path, false);
  return json ? { json, path } : (infer() ?? { json: {}, path });
}

function readUNet(fs: SceneFileSystem, dir: string, infer: () => InferredConfig): UNetConfig {
  const { json, path } = componentConfig(fs, join(dir, 'unet', 'config.json'), infer);
  const f = new Fields(json, path);
  const size = json.sample_size;
  let sampleSize: [number, number];
  if (typeof size === 'number' && Number.isInteger(size) && size > 0) sampleSize = [size, size];
  else if (Array.isArray(size) && size.length === 2 && size.every((x) => typeof x === 'number' && Number.isInteger(x) && x > 0)) {
    sampleSize = [size[0] as number, size[1] as number];
  } else if (size === undefined) sampleSize = [64, 64];
  else throw new ModelError(`field 'sample_size' is ${JSON.stringify(size)}; expected a positive integer or [height, width]`, path);
  const blockOutChannels = f.numbers('block_out_channels', SD15_UNET_BLOCKS);
  const crossAttention = json.cross_attention_dim;
  return {
    sampleSize,
    inChannels: f.number('in_channels', 4, true),
    outChannels: f.number('out_channels', 4, true),
    blockOutChannels,
    downBlockTypes: f.strings('down_block_types', []),
    // A list (one per block) in some configs; every block shares the text encoder's width.
    crossAttentionDim: Array.isArray(crossAttention) && typeof crossAttention[0] === 'number' ? crossAttention[0] : f.number('cross_attention_dim', 768, true),
    raw: json,
  };
}

function readVAE(fs: SceneFileSystem, dir: string): VAEConfig {
  // optimum writes the VAE config into each half; either will do.
  const decoderPath = join(dir, 'vae_decoder', 'config.json');
  const decoder = readJson(fs, decoderPath, false);
  const { json, path } = decoder ? { json: decoder, path: decoderPath } : componentConfig(fs, join(dir, 'vae_encoder', 'config.json'), () => inferVAEConfig(dir, fs));
  const f = new Fields(json, path);
  return {
    scalingFactor: f.number('scaling_factor', SD15_VAE_SCALING, true),
    latentChannels: f.number('latent_channels', 4, true),
    blockOutChannels: f.numbers('block_out_channels', SD15_VAE_BLOCKS),
    raw: json,
  };
}

function readTextEncoder(fs: SceneFileSystem, dir: string, component: string): TextEncoderConfig {
  const { json, path } = componentConfig(fs, join(dir, component, 'config.json'), () => inferTextEncoderConfig(dir, fs, component));
  const f = new Fields(json, path);
  return {
    hiddenSize: f.number('hidden_size', 768, true),
    maxPositionEmbeddings: f.number('max_position_embeddings', 77, true),
    vocabSize: f.number('vocab_size', 49408, true),
    raw: json,
  };
}

function readTokenizer(fs: SceneFileSystem, dir: string, maxPositions: number, folder: string): TokenizerConfig {
  const path = join(dir, folder, 'tokenizer_config.json');
  const json = readJson(fs, path, false) ?? {};
  const f = new Fields(json, path);
  // transformers writes a huge sentinel (1e30) when a tokenizer has no limit; the text encoder's is the real one.
  const declared = f.number('model_max_length', maxPositions, true);
  return {
    modelMaxLength: Math.min(declared, maxPositions),
    doLowerCase: f.boolean('do_lower_case', true),
    bosToken: f.token('bos_token'),
    eosToken: f.token('eos_token'),
    padToken: f.token('pad_token'),
    raw: json,
  };
}

function readImgpromptBlock(index: Json, path: string, scheduler: ModelScheduler, unet: UNetConfig) {
  const block = index.imgprompt;
  const blockJson = typeof block === 'object' && block !== null && !Array.isArray(block) ? (block as Json) : {};
  const buckets: { width: number; height: number }[] = [];
  if (Array.isArray(blockJson.buckets)) {
    for (const b of blockJson.buckets as unknown[]) {
      if (Array.isArray(b) && b.length === 2 && b.every((x) => typeof x === 'number')) buckets.push({ width: b[0] as number, height: b[1] as number });
      else if (typeof b === 'object' && b !== null && typeof (b as Json).width === 'number' && typeof (b as Json).height === 'number') {
        buckets.push({ width: (b as Json).width as number, height: (b as Json).height as number });
      }
      // Other spellings are informational only and not worth refusing a model over.
    }
  }
  const fallback = inferModelDefaults({ scheduler, unet, index, dir: dirname(path) });
  const d = typeof blockJson.defaults === 'object' && blockJson.defaults !== null ? (blockJson.defaults as Json) : {};
  const f = new Fields(d, path);
  const defaults: ModelDefaults = {
    ...fallback,
    sampler: f.string('sampler', fallback.sampler) as SamplerName,
    schedule: f.string('schedule', fallback.schedule) as ScheduleName,
    steps: f.number('steps', fallback.steps, true),
    guidance: f.number('guidance', fallback.guidance),
  };
  if (!(SAMPLERS as readonly string[]).includes(defaults.sampler)) {
    throw new ModelError(`imgprompt.defaults.sampler '${defaults.sampler}' is not one of ${SAMPLERS.join(', ')}`, path);
  }
  if (!(SCHEDULES as readonly string[]).includes(defaults.schedule)) {
    throw new ModelError(`imgprompt.defaults.schedule '${defaults.schedule}' is not one of ${SCHEDULES.join(', ')}`, path);
  }
  const controlnets: Record<string, string> = {};
  const declared = blockJson.controlnets;
  if (declared !== undefined) {
    if (typeof declared !== 'object' || declared === null || Array.isArray(declared)) {
      throw new ModelError('imgprompt.controlnets must be an object mapping hint types to folders, e.g. {"canny": "controlnet/canny"}', path);
    }
    for (const [type, folder] of Object.entries(declared as Json)) {
      if (typeof folder !== 'string' || folder === '' || isAbsolute(folder) || normalize(folder).split(/[\\/]/).includes('..')) {
        throw new ModelError(`imgprompt.controlnets.${type} must be a folder inside the model folder, e.g. "controlnet/${type}"`, path);
      }
      controlnets[type] = folder;
    }
  }
  return { buckets, defaults, controlnets };
}

/**
 * The ControlNet folder for a hint type: the declared one, else `controlnet/<type>/`, else a single
 * `controlnet/` folder (diffusers' layout for a pipeline with one ControlNet). Undefined when none exists.
 */
export function controlNetDir(model: Pick<ModelConfig, 'dir' | 'controlnets'>, type: string, fs: SceneFileSystem = nodeFileSystem): string | undefined {
  const declared = model.controlnets[type];
  if (declared !== undefined) return declared;
  for (const candidate of [join(model.dir, 'controlnet', type), join(model.dir, 'controlnet')]) {
    if (fs.stat(join(candidate, 'model.onnx')) === 'file') return candidate;
  }
  return undefined;
}

/**
 * Reads the configs of the model folder `dir`. Throws ModelError naming the file when model_index.json
 * is missing, any config is malformed, or a missing component config cannot be inferred from its graph.
 */
export function readModelConfig(dir: string, fs: SceneFileSystem = nodeFileSystem): ModelConfig {
  if (fs.stat(dir) !== 'directory') throw new ModelError('model folder not found', dir);
  const indexPath = join(dir, 'model_index.json');
  const index = readJson(fs, indexPath, true) ?? {};
  // diffusers writes [null, null] for a component a pipeline does without (the SDXL refiner's text_encoder and tokenizer).
  const components = Object.keys(index).filter((k) => !k.startsWith('_') && k !== 'imgprompt' && !(Array.isArray(index[k]) && (index[k] as unknown[]).every((v) => v === null)));
  const scheduler = readScheduler(fs, dir);
  const vae = readVAE(fs, dir);
  const vaeScaleFactor = 2 ** (vae.blockOutChannels.length - 1);
  const unet = readUNet(fs, dir, () => inferUNetConfig(dir, fs, { vaeScaleFactor, index, predictionType: scheduler.config.predictionType }));
  // The SDXL refiner has only the second encoder (OpenCLIP bigG); it is then the model's text encoder.
  const onlySecond = !components.includes('text_encoder') && components.includes('text_encoder_2');
  const textEncoder = readTextEncoder(fs, dir, onlySecond ? 'text_encoder_2' : 'text_encoder');
  const tokenizer = readTokenizer(fs, dir, textEncoder.maxPositionEmbeddings, onlySecond ? 'tokenizer_2' : 'tokenizer');
  const unetDownsampleFactor = 2 ** (unet.blockOutChannels.length - 1);
  const { buckets, defaults, controlnets } = readImgpromptBlock(index, indexPath, scheduler, unet);
  const nativeHeight = unet.sampleSize[0] * vaeScaleFactor;
  const nativeWidth = unet.sampleSize[1] * vaeScaleFactor;
  if (buckets.length === 0 && components.includes('text_encoder_2') && nativeWidth === SDXL_NATIVE_SIZE && nativeHeight === SDXL_NATIVE_SIZE) {
    buckets.push(...SDXL_BUCKETS.map((b) => ({ ...b })));
  }
  const forceZeros = index.force_zeros_for_empty_prompt;
  const aesthetics = index.requires_aesthetics_score;
  return {
    dir,
    name: basename(dir),
    pipelineClass: typeof index._class_name === 'string' ? index._class_name : undefined,
    components,
    scheduler,
    unet,
    vae,
    textEncoder,
    tokenizer,
    vaeScaleFactor,
    unetDownsampleFactor,
    grid: vaeScaleFactor * unetDownsampleFactor,
    nativeHeight,
    nativeWidth,
    buckets,
    ...(typeof forceZeros === 'boolean' ? { forceZerosForEmptyPrompt: forceZeros } : {}),
    ...(aesthetics === true ? { requiresAestheticsScore: true } : {}),
    defaults,
    controlnets: Object.fromEntries(Object.entries(controlnets).map(([type, folder]) => [type, join(dir, folder)])),
  };
}

/**
 * Memoises readModelConfig per folder for hosts that analyse scenes on every keystroke (pass
 * `cache.load` as ResolveContext.loadModelConfig). Errors are not cached; call invalidate when a
 * model folder's configs change.
 */
export class ModelConfigCache {
  private readonly configs = new Map<string, ModelConfig>();

  constructor(private readonly fs: SceneFileSystem = nodeFileSystem) {}

  readonly load = (dir: string): ModelConfig => {
    let config = this.configs.get(dir);
    if (!config) {
      config = readModelConfig(dir, this.fs);
      this.configs.set(dir, config);
    }
    return config;
  };

  /** Forgets one folder, or every folder when none is given. */
  invalidate(dir?: string): void {
    if (dir === undefined) this.configs.clear();
    else this.configs.delete(dir);
  }
}
