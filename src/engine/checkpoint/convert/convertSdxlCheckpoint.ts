// SDXL single-file checkpoints (SGM key layout, as sd_xl_base_1.0.safetensors and the Pony / Illustrious /
// NoobAI fine-tunes ship): `model.diffusion_model.*` (the UNet, with `label_emb.0.{0,2}` = add_embedding),
// `first_stage_model.*` (the VAE), `conditioner.embedders.0.transformer.text_model.*` (CLIP ViT-L under
// transformers' names) and `conditioner.embedders.1.model.*` (OpenCLIP bigG, read through
// openClipTextGraph's renaming). Configs come from the shapes, as diffusers' single-file loader derives
// them: 64-wide heads per level, transformer depth per level counted from the blocks, the time-id
// embedding width from add_embedding's input minus the pooled projection's width over six ids; the VAE
// scaling is SDXL's 0.13025; the scheduler is SDXL base's Euler config. A `v_pred` key marks a
// v-prediction model and `ztsnr` one trained with zero terminal SNR (ComfyUI's markers, which NoobAI's
// v-pred files carry); an A1111 `.yaml` with `parameterization: "v"` also says v.
// The refiner's file (sd_xl_refiner_1.0.safetensors) holds OpenCLIP bigG alone as
// `conditioner.embedders.0.model.*` (the key diffusers' single-file loader tells the refiner by), and its
// add_embedding takes five time ids (original size, crop top-left, aesthetic score): it converts to a
// folder with text_encoder_2 only and requires_aesthetics_score, as the diffusers refiner repository is.
import { InputError } from '../../errors';
import type { SafetensorsFile, SafetensorsTensorInfo } from '../../lora/safetensors';
import type { ClipTextConfig } from './clipTextGraph';
import type { ModelFolderParts } from './convertCheckpoint';
import { clipTextConfigAt, predictionFromYaml, unetConfig, vaeConfig } from './inferLdmConfig';
import { ldmUnetWeights } from './ldmUnetNames';
import { ldmVaeWeights } from './ldmVaeNames';
import { openClipAsClipTextWeights, openClipTextConfig, openClipTextShape } from './openClipTextGraph';
import type { UNetConfig } from './unetGraph';
import type { VaeConfig } from './vaeGraph';
import { renamedWeights, safetensorsWeights, type WeightSource } from './weightSource';

type Tensors = ReadonlyMap<string, SafetensorsTensorInfo>;
type Json = Record<string, unknown>;

export const SDXL_CLIP_L_PREFIX = 'conditioner.embedders.0.transformer.';
export const SDXL_OPEN_CLIP_PREFIX = 'conditioner.embedders.1.model.';
/** The refiner's only encoder (bigG) is SGM's first embedder. */
export const SDXL_REFINER_OPEN_CLIP_PREFIX = 'conditioner.embedders.0.model.';
const UNET = 'model.diffusion_model.';
/** SDXL's time ids: original size, crop top-left, target size; the refiner's: original size, crop top-left, aesthetic score. */
const TIME_IDS = 6;
const REFINER_TIME_IDS = 5;

/** Whether the tensors are an SDXL refiner's (bigG as the first and only embedder). */
export function isSdxlRefiner(tensors: Tensors): boolean {
  return tensors.has(`${SDXL_REFINER_OPEN_CLIP_PREFIX}token_embedding.weight`) && !tensors.has(`${SDXL_OPEN_CLIP_PREFIX}token_embedding.weight`);
}

function shape(tensors: Tensors, name: string, origin: string): readonly number[] {
  const info = tensors.get(name);
  if (!info) throw new InputError(`the checkpoint has no tensor '${name}', which an SDXL single file has`, origin);
  return info.shape;
}

function countPrefixed(tensors: Tensors, prefix: (i: number) => string): number {
  const keys = [...tensors.keys()];
  let n = 0;
  while (keys.some((k) => k.startsWith(prefix(n)))) n++;
  return n;
}

export interface SdxlConfigs {
  readonly unet: Json;
  readonly vae: Json;
  /** The first encoder's config; absent for the refiner, which has only the second. */
  readonly textEncoder?: Json;
  readonly textEncoder2: Json;
  readonly scheduler: Json;
  readonly prediction: { readonly type: 'epsilon' | 'v_prediction'; readonly source: string };
  /** The refiner: five time ids ending in an aesthetic score. */
  readonly refiner: boolean;
}

/** The SDXL UNet config: the SD walk of the levels, plus depth per level, 64-wide heads and text_time. */
function sdxlUnetConfig(tensors: Tensors, projectionDim: number, timeIds: number, origin: string): Json {
  const base = unetConfig(tensors, origin);
  const blockOut = base.block_out_channels as number[];
  const layers = base.layers_per_block as number;
  const types = base.down_block_types as string[];
  const last = blockOut.length - 1;
  const midDepth = countPrefixed(tensors, (k) => `${UNET}middle_block.1.transformer_blocks.${k}.`);
  // The first input block of each level with attention: count its transformer blocks. The mid block
  // takes the last level's depth and heads (diffusers' rule), so a last level without attention (the
  // refiner's) states the mid block's; other levels without attention get 1 (never used).
  const depth = blockOut.map((_c, level) => {
    if (types[level] !== 'CrossAttnDownBlock2D') return level === last && midDepth > 0 ? midDepth : 1;
    const block = level * (layers + 1) + 1;
    return countPrefixed(tensors, (k) => `${UNET}input_blocks.${block}.1.transformer_blocks.${k}.`);
  });
  const [, adm] = shape(tensors, `${UNET}label_emb.0.0.weight`, origin);
  const timeWidth = (adm - projectionDim) / timeIds;
  if (!Number.isInteger(timeWidth) || timeWidth < 2 || timeWidth % 2 !== 0) {
    throw new InputError(`label_emb.0.0 takes ${adm} values, which is not the pooled width ${projectionDim} plus ${timeIds} time-id embeddings of an even width`, origin);
  }
  return {
    ...base,
    sample_size: 128,
    // 64-wide heads (SDXL: 5, 10, 20; the refiner: 6, 12, 24, 24) at levels with attention and at the last
    // level (the mid block's); other levels get one head (never used) where the width is below 64.
    attention_head_dim: blockOut.map((c, level) => (types[level] === 'CrossAttnDownBlock2D' || (level === last && Number.isInteger(c / 64)) ? c / 64 : 1)),
    transformer_layers_per_block: depth,
    addition_embed_type: 'text_time',
    addition_time_embed_dim: timeWidth,
    projection_class_embeddings_input_dim: adm,
    ...(timeIds === REFINER_TIME_IDS ? { requires_aesthetics_score: true } : {}),
  };
}

/** transformers' CLIPTextModel config of the first encoder (ViT-L: 64-wide heads, quick_gelu). */
function clipLConfig(tensors: Tensors, origin: string): Json {
  return clipTextConfigAt(tensors, `${SDXL_CLIP_L_PREFIX}text_model.`, origin);
}

/** SDXL base 1.0's scheduler_config.json, with the prediction type (and zero-SNR rescale) the file states. */
function sdxlScheduler(prediction: 'epsilon' | 'v_prediction', zeroSnr: boolean): Json {
  return {
    _class_name: 'EulerDiscreteScheduler',
    num_train_timesteps: 1000,
    beta_start: 0.00085,
    beta_end: 0.012,
    beta_schedule: 'scaled_linear',
    interpolation_type: 'linear',
    prediction_type: prediction,
    set_alpha_to_one: false,
    skip_prk_steps: true,
    steps_offset: 1,
    // Zero terminal SNR needs the schedule to reach t = 999 (trailing), as Lin et al. 2023 prescribe.
    timestep_spacing: zeroSnr ? 'trailing' : 'leading',
    ...(zeroSnr ? { rescale_betas_zero_snr: true } : {}),
    use_karras_sigmas: false,
  };
}

export function inferSdxlConfigs(tensors: Tensors, origin: string, yamlText?: string): SdxlConfigs {
  const refiner = isSdxlRefiner(tensors);
  const openClipPrefix = refiner ? SDXL_REFINER_OPEN_CLIP_PREFIX : SDXL_OPEN_CLIP_PREFIX;
  const shapes = shapeView(tensors, openClipPrefix, origin);
  const openClip = openClipTextShape(shapes);
  if (openClip.projectionDim === undefined) throw new InputError(`the OpenCLIP bigG encoder has no text_projection (${openClipPrefix}text_projection), which SDXL's pooled embedding needs`, origin);
  const fromYaml = predictionFromYaml(yamlText);
  const marked = tensors.has('v_pred');
  const prediction: SdxlConfigs['prediction'] = fromYaml
    ? { type: fromYaml, source: 'the .yaml beside the checkpoint' }
    : marked
      ? { type: 'v_prediction', source: "the checkpoint's v_pred key" }
      : { type: 'epsilon', source: 'the SDXL default (no v_pred key, no .yaml beside the checkpoint)' };
  const zeroSnr = prediction.type === 'v_prediction' && tensors.has('ztsnr');
  return {
    unet: sdxlUnetConfig(tensors, openClip.projectionDim, refiner ? REFINER_TIME_IDS : TIME_IDS, origin),
    vae: { ...vaeConfig(tensors, origin), sample_size: 1024, scaling_factor: 0.13025, force_upcast: true },
    ...(refiner ? {} : { textEncoder: clipLConfig(tensors, origin) }),
    textEncoder2: { ...openClipTextConfig(openClip, 'all-with-projection') },
    scheduler: sdxlScheduler(prediction.type, zeroSnr),
    prediction,
    refiner,
  };
}

/** A shape-only view of the tensors under `prefix`. */
function shapeView(tensors: Tensors, prefix: string, origin: string): WeightSource {
  return {
    origin,
    has: (name) => tensors.has(prefix + name),
    shape: (name) => shape(tensors, prefix + name, origin),
    get: () => Promise.reject(new Error('internal: a shape-only view has no values')),
    names: () => [...tensors.keys()].filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length)),
  };
}

/** The weights of the first encoder under transformers' names (position_ids, an int64 buffer, is not a weight). */
function clipLWeights(source: WeightSource): WeightSource {
  const names = source
    .names()
    .filter((n) => n.startsWith(SDXL_CLIP_L_PREFIX) && !n.endsWith('position_ids'))
    .map((n) => n.slice(SDXL_CLIP_L_PREFIX.length));
  return renamedWeights(source, (name) => (names.includes(name) ? SDXL_CLIP_L_PREFIX + name : undefined), names);
}

/** The model-folder parts of an SDXL single file (without tokenizer, name and progress). */
export function sdxlFolderParts(
  checkpoint: SafetensorsFile,
  configs: SdxlConfigs,
): Pick<ModelFolderParts, 'textEncoder' | 'textEncoder2' | 'unet' | 'vae' | 'scheduler' | 'forceZerosForEmptyPrompt' | 'requiresAestheticsScore'> {
  const source = safetensorsWeights(checkpoint);
  const openClipSource = safetensorsWeights(checkpoint, configs.refiner ? SDXL_REFINER_OPEN_CLIP_PREFIX : SDXL_OPEN_CLIP_PREFIX);
  return {
    ...(configs.textEncoder ? { textEncoder: { config: configs.textEncoder as unknown as ClipTextConfig, weights: clipLWeights(source) } } : {}),
    textEncoder2: { config: configs.textEncoder2 as unknown as ClipTextConfig, weights: openClipAsClipTextWeights(openClipSource, openClipTextShape(openClipSource)) },
    unet: { config: configs.unet as unknown as UNetConfig, weights: ldmUnetWeights(source) },
    vae: { config: configs.vae as unknown as VaeConfig, weights: ldmVaeWeights(source) },
    scheduler: configs.scheduler,
    // diffusers' StableDiffusionXLPipeline default (SDXL base's model_index.json says so too); the
    // refiner's model_index.json says false and requires_aesthetics_score true.
    forceZerosForEmptyPrompt: !configs.refiner,
    ...(configs.refiner ? { requiresAestheticsScore: true } : {}),
  };
}
