// The diffusers configs of an SD 1.x / 2.x single-file (LDM layout) checkpoint, read off its tensor
// shapes: what a converter needs to build the graphs and what the model folder's config.json files
// record. Where shapes cannot tell (the prediction type of SD 2.x, the native size), an A1111-style
// `<name>.yaml` beside the file answers (`parameterization: "v"`), else SD's published defaults apply.
import { InputError } from '../../errors';
import type { SafetensorsTensorInfo } from '../../lora/safetensors';
import { openClipTextConfig, openClipTextShape } from './openClipTextGraph';
import { weightError, type WeightSource } from './weightSource';

type Tensors = ReadonlyMap<string, SafetensorsTensorInfo>;
type Json = Record<string, unknown>;

const UNET = 'model.diffusion_model.';
const VAE = 'first_stage_model.';

export interface LdmConfigs {
  readonly unet: Json;
  readonly vae: Json;
  readonly textEncoder: Json;
  readonly scheduler: Json;
  /** `epsilon` or `v_prediction`, and where it came from. */
  readonly prediction: { readonly type: 'epsilon' | 'v_prediction'; readonly source: string };
}

function shape(tensors: Tensors, name: string, origin: string): readonly number[] {
  const info = tensors.get(name);
  if (!info) throw new InputError(`the checkpoint has no tensor '${name}', which an SD 1.x/2.x single-file checkpoint has`, origin);
  return info.shape;
}

function count(tensors: Tensors, prefix: (i: number) => string): number {
  let n = 0;
  while ([...tensors.keys()].some((k) => k.startsWith(prefix(n)))) n++;
  return n;
}

/** UNet2DConditionModel config from `model.diffusion_model.*`. */
export function unetConfig(tensors: Tensors, origin: string): Json {
  const [modelChannels, inChannels] = shape(tensors, `${UNET}input_blocks.0.0.weight`, origin);
  const outChannels = shape(tensors, `${UNET}out.2.weight`, origin)[0];
  const inputBlocks = count(tensors, (i) => `${UNET}input_blocks.${i}.`);
  // Walk the input blocks: a block with `0.op.weight` is a downsampler and ends a level.
  const levels: { channels: number; resnets: number; attention: boolean }[] = [{ channels: modelChannels, resnets: 0, attention: false }];
  let context: number | undefined;
  let linearProjection = false;
  for (let i = 1; i < inputBlocks; i++) {
    const prefix = `${UNET}input_blocks.${i}.`;
    if (tensors.has(`${prefix}0.op.weight`)) {
      levels.push({ channels: 0, resnets: 0, attention: false });
      continue;
    }
    const level = levels[levels.length - 1];
    level.resnets++;
    level.channels = shape(tensors, `${prefix}0.out_layers.3.weight`, origin)[0];
    if (tensors.has(`${prefix}1.proj_in.weight`)) {
      level.attention = true;
      context ??= shape(tensors, `${prefix}1.transformer_blocks.0.attn2.to_k.weight`, origin)[1];
      linearProjection = shape(tensors, `${prefix}1.proj_in.weight`, origin).length === 2;
    }
  }
  if (context === undefined) throw new InputError('the UNet has no cross-attention: not a text-to-image SD 1.x/2.x checkpoint', origin);
  const perBlock = new Set(levels.map((l) => l.resnets));
  if (perBlock.size !== 1) throw new InputError(`the UNet's levels have different resnet counts (${levels.map((l) => l.resnets).join(', ')}), which diffusers' UNet2DConditionModel cannot express`, origin);
  const blockOut = levels.map((l) => l.channels);
  // SD 1.x (CLIP ViT-L text encoder) gives the head count, 8; SD 2.x (OpenCLIP) uses 64-wide heads per level.
  const openClip = tensors.has('cond_stage_model.model.token_embedding.weight');
  const headDim = openClip || context === 1024 ? blockOut.map((c) => c / 64) : 8;
  return {
    _class_name: 'UNet2DConditionModel',
    sample_size: 64,
    in_channels: inChannels,
    out_channels: outChannels,
    block_out_channels: blockOut,
    layers_per_block: [...perBlock][0],
    down_block_types: levels.map((l) => (l.attention ? 'CrossAttnDownBlock2D' : 'DownBlock2D')),
    up_block_types: [...levels].reverse().map((l) => (l.attention ? 'CrossAttnUpBlock2D' : 'UpBlock2D')),
    mid_block_type: 'UNetMidBlock2DCrossAttn',
    cross_attention_dim: context,
    attention_head_dim: headDim,
    use_linear_projection: linearProjection,
    norm_num_groups: 32,
    norm_eps: 1e-5,
    flip_sin_to_cos: true,
    freq_shift: 0,
    act_fn: 'silu',
  };
}

/** AutoencoderKL config from `first_stage_model.*`. */
export function vaeConfig(tensors: Tensors, origin: string): Json {
  const levels = count(tensors, (i) => `${VAE}encoder.down.${i}.`);
  if (levels === 0) throw new InputError('the checkpoint has no VAE (first_stage_model.*); name a VAE file or use a full checkpoint', origin);
  const blockOut = Array.from({ length: levels }, (_v, i) => shape(tensors, `${VAE}encoder.down.${i}.block.0.conv2.weight`, origin)[0]);
  const layers = count(tensors, (i) => `${VAE}encoder.down.0.block.${i}.`);
  return {
    _class_name: 'AutoencoderKL',
    in_channels: shape(tensors, `${VAE}encoder.conv_in.weight`, origin)[1],
    out_channels: shape(tensors, `${VAE}decoder.conv_out.weight`, origin)[0],
    latent_channels: shape(tensors, `${VAE}post_quant_conv.weight`, origin)[0],
    block_out_channels: blockOut,
    layers_per_block: layers,
    down_block_types: blockOut.map(() => 'DownEncoderBlock2D'),
    up_block_types: blockOut.map(() => 'UpDecoderBlock2D'),
    norm_num_groups: 32,
    act_fn: 'silu',
    sample_size: 512,
    // The LDM configs' scale_factor for SD 1.x and 2.x, as diffusers' AutoencoderKL default.
    scaling_factor: 0.18215,
  };
}

/** The tensors under `prefix` as a weight source that knows shapes only (for reading sizes off them). */
function shapesUnder(tensors: Tensors, prefix: string, origin: string): WeightSource {
  const source: WeightSource = {
    origin,
    has: (name) => tensors.has(prefix + name),
    shape: (name) => {
      const info = tensors.get(prefix + name);
      if (!info) throw weightError(source, prefix + name, 'is missing');
      return info.shape;
    },
    get: () => Promise.reject(new Error('internal: a shape-only view has no values')),
    names: () => [...tensors.keys()].filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length)),
  };
  return source;
}

/** transformers' CLIPTextModel config of a CLIP ViT-L text tower whose tensors sit under `base` (64-wide heads, quick_gelu). */
export function clipTextConfigAt(tensors: Tensors, base: string, origin: string): Json {
  const [vocab, hidden] = shape(tensors, `${base}embeddings.token_embedding.weight`, origin);
  return {
    architectures: ['CLIPTextModel'],
    model_type: 'clip_text_model',
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: shape(tensors, `${base}encoder.layers.0.mlp.fc1.weight`, origin)[0],
    num_hidden_layers: count(tensors, (i) => `${base}encoder.layers.${i}.`),
    num_attention_heads: hidden / 64,
    max_position_embeddings: shape(tensors, `${base}embeddings.position_embedding.weight`, origin)[0],
    hidden_act: 'quick_gelu',
    layer_norm_eps: 1e-5,
    // As SD 1.5's own text_encoder/config.json records them (transformers' legacy values: with eos 2 the
    // pooled output is taken at the argmax of the ids, which is CLIP's end-of-text token).
    bos_token_id: 0,
    eos_token_id: 2,
    pad_token_id: 1,
  };
}

/** The OpenCLIP text tower's prefix in an SD 2.x single file. */
export const OPEN_CLIP_PREFIX = 'cond_stage_model.model.';

/**
 * CLIPTextModel config from `cond_stage_model.transformer.text_model.*` (SD 1.x's CLIP ViT-L/14) or, for
 * SD 2.x, from `cond_stage_model.model.*` (OpenCLIP ViT-H/14, its penultimate block through ln_final).
 */
function textEncoderConfig(tensors: Tensors, origin: string): Json {
  const base = tensors.has('cond_stage_model.transformer.text_model.embeddings.token_embedding.weight')
    ? 'cond_stage_model.transformer.text_model.'
    : tensors.has('cond_stage_model.transformer.embeddings.token_embedding.weight')
      ? 'cond_stage_model.transformer.'
      : undefined;
  if (!base) {
    if (tensors.has(`${OPEN_CLIP_PREFIX}token_embedding.weight`)) {
      return { ...openClipTextConfig(openClipTextShape(shapesUnder(tensors, OPEN_CLIP_PREFIX, origin)), 'penultimate') };
    }
    throw new InputError('the checkpoint has no CLIP text encoder (cond_stage_model.transformer.* or cond_stage_model.model.*)', origin);
  }
  return clipTextConfigAt(tensors, base, origin);
}

/** `parameterization: "v"` in an A1111-style YAML beside the checkpoint (a plain line scan, no YAML evaluation needed). */
export function predictionFromYaml(yamlText: string | undefined): 'epsilon' | 'v_prediction' | undefined {
  if (yamlText === undefined) return undefined;
  const m = /^\s*parameterization\s*:\s*["']?(v|eps|epsilon)["']?\s*$/m.exec(yamlText);
  if (!m) return undefined;
  return m[1] === 'v' ? 'v_prediction' : 'epsilon';
}

/** The scheduler SD 1.x publishes (runwayml/stable-diffusion-v1-5) and SD 2.x's (stabilityai/stable-diffusion-2-1). */
function schedulerConfig(sd2: boolean, prediction: 'epsilon' | 'v_prediction'): Json {
  const common = { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, clip_sample: false };
  if (sd2) return { _class_name: 'DDIMScheduler', ...common, prediction_type: prediction };
  return { _class_name: 'PNDMScheduler', ...common, timestep_spacing: 'leading', prediction_type: prediction };
}

/** The tensor whose spread tells SD 2.x v-prediction from epsilon models (ComfyUI's SD20.model_type). */
export const SD2_V_PROBE = 'model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias';
/** Above this population standard deviation of SD2_V_PROBE, ComfyUI takes an SD 2.x model for v-prediction. */
export const SD2_V_PROBE_THRESHOLD = 0.09;

/** Population standard deviation (torch.std(unbiased=False)), in float64. */
export function populationStd(values: Float32Array): number {
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length || 1;
  let sum = 0;
  for (const v of values) sum += (v - mean) * (v - mean);
  return Math.sqrt(sum / (values.length || 1));
}

/**
 * The prediction type: an A1111-style `<name>.yaml` beside the file when it says; else, for an SD 2.x
 * model with 4 input channels, ComfyUI's rule: v-prediction when the population standard deviation of
 * SD2_V_PROBE exceeds 0.09 (`probeStd`; the 768-v models' is far above, the 512 base models' below), and
 * where that tensor is missing diffusers' single-file default for SD 2.x, v; SD 2.x inpainting (9
 * channels) and every SD 1.x model: epsilon.
 */
function predictionOf(sd2: boolean, inChannels: number, yamlText: string | undefined, probeStd: number | undefined): LdmConfigs['prediction'] {
  const fromYaml = predictionFromYaml(yamlText);
  if (fromYaml) return { type: fromYaml, source: 'the .yaml beside the checkpoint' };
  if (sd2 && inChannels !== 9) {
    if (probeStd === undefined) return { type: 'v_prediction', source: 'the SD 2.x default (no .yaml beside the checkpoint, no output_blocks.11.1 norm to tell by)' };
    const v = probeStd > SD2_V_PROBE_THRESHOLD;
    return { type: v ? 'v_prediction' : 'epsilon', source: `the spread of output_blocks.11.1's first norm bias (std ${probeStd.toFixed(3)} ${v ? '>' : '≤'} ${SD2_V_PROBE_THRESHOLD}, ComfyUI's rule; a .yaml beside the checkpoint overrides it)` };
  }
  return { type: 'epsilon', source: `the ${sd2 ? 'SD 2.x inpainting' : 'SD 1.x'} default (no .yaml beside the checkpoint)` };
}

/**
 * The configs of an SD 1.x / 2.x single-file checkpoint; `yamlText` is the `<name>.yaml` beside it, if any;
 * `probeStd` the population standard deviation of SD2_V_PROBE's values where the file has it.
 */
export function inferLdmConfigs(tensors: Tensors, origin: string, yamlText?: string, probeStd?: number): LdmConfigs {
  const unet = unetConfig(tensors, origin);
  const sd2 = tensors.has(`${OPEN_CLIP_PREFIX}token_embedding.weight`);
  const prediction = predictionOf(sd2, unet.in_channels as number, yamlText, probeStd);
  // The native size: 768 for the v-prediction models, 512 otherwise (diffusers' single-file image sizes).
  if (prediction.type === 'v_prediction') (unet as Json).sample_size = 96;
  return {
    unet,
    vae: vaeConfig(tensors, origin),
    textEncoder: textEncoderConfig(tensors, origin),
    scheduler: schedulerConfig(sd2, prediction.type),
    prediction,
  };
}
