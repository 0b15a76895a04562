// diffusers' AutoencoderKL as the two ONNX graphs the engine runs, with optimum's I/O:
// - vae_decoder: `latent_sample` float32 [batch, latent_channels, h, w] → post_quant_conv → Decoder →
//   `sample` float32 [batch, out_channels, 8h, 8w] (for four blocks: 2^(blocks - 1)).
// - vae_encoder: `sample` float32 [batch, in_channels, H, W] → Encoder → quant_conv →
//   `latent_parameters` float32 [batch, 2 · latent_channels, H/8, W/8]: the diagonal Gaussian's mean and
//   log-variance concatenated on channels, as current optimum exports it (model/vaeEncoder.ts takes the
//   mean, or samples it).
// Weights by diffusers name without the component prefix (`decoder.conv_in.weight`,
// `decoder.mid_block.attentions.0.to_q.weight` — or `.query.weight`, `.proj_attn.weight` as diffusers
// before 0.14 saved the attention — `post_quant_conv.weight`); an LDM checkpoint's VAE feeds the same
// builder through ldmVaeNames.ts.
//
// Structure (diffusers' Encoder / Decoder / UNetMidBlock2D / Down- and UpDecoderBlock2D): every GroupNorm
// has ε = 1e-6 and config.norm_num_groups groups; the encoder's down blocks have layers_per_block resnets
// and, except the last, a 3×3 stride-2 convolution after padding right and bottom by one; the mid block
// is resnet, single-head self-attention over the H·W positions (GroupNorm, q/k/v linears of width C,
// softmax(q·kᵀ/√C)·v, to_out linear, residual), resnet; the decoder's up blocks run the widths reversed with
// layers_per_block + 1 resnets each and, except the last, nearest 2× upsampling and a 3×3 convolution.
// The attention is written unfused (MatMul, Mul by the scale, Softmax, MatMul), the pattern the session
// loader's attention fusion (onnx/attentionFusion.ts) turns into MultiHeadAttention.
import { ONNX_FLOAT, type ExternalDataWriter, GraphBuilder } from '../../onnx/graphBuilder';
import { conv2d, groupNorm, intsConst, linear, nnContext, resnetBlock, scalarConst, silu, upsample2d, type NnContext } from './nnOps';
import { weightError, type WeightSource } from './weightSource';

/** The fields of a diffusers AutoencoderKL config.json the builders read. */
export interface VaeConfig {
  readonly block_out_channels: readonly number[];
  readonly layers_per_block: number;
  readonly latent_channels: number;
  readonly norm_num_groups: number;
  /** Default 3. */
  readonly in_channels?: number;
  /** Default 3. */
  readonly out_channels?: number;
  /** Default true (false in some newer VAEs; diffusers then has no mid-block attention). */
  readonly mid_block_add_attention?: boolean;
  /** Default true (SD3 / FLUX VAEs set false and have no quant_conv / post_quant_conv). */
  readonly use_quant_conv?: boolean;
  readonly use_post_quant_conv?: boolean;
}

export interface VaeBuildOptions {
  readonly signal?: AbortSignal;
}

/** diffusers' VAE GroupNorms (resnets, mid-block attention, conv_norm_out) all use this ε. */
export const VAE_NORM_EPS = 1e-6;

function checkConfig(config: VaeConfig): void {
  const { block_out_channels: ch, layers_per_block: layers, latent_channels: lc, norm_num_groups: groups } = config;
  const positive = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  if (!Array.isArray(ch) || ch.length === 0 || !ch.every(positive)) throw new RangeError(`VAE config: block_out_channels ${JSON.stringify(ch)} is not a list of positive integers`);
  if (!positive(layers) || !positive(lc) || !positive(groups)) throw new RangeError('VAE config: layers_per_block, latent_channels and norm_num_groups must be positive integers');
  for (const c of ch) if (c % groups !== 0) throw new RangeError(`VAE config: ${c} channels do not split into ${groups} groups`);
}

/** diffusers' Attention as the VAE mid block uses it: one head of width C over the H·W positions, residual. */
async function vaeAttention(ctx: NnContext, x: string, prefix: string, channels: number, groups: number): Promise<string> {
  const { g, weights } = ctx;
  // diffusers ≥ 0.14 names the projections to_q/to_k/to_v/to_out.0; older saves query/key/value/proj_attn.
  const legacy = !weights.has(`${prefix}.to_q.weight`) && weights.has(`${prefix}.query.weight`);
  const [qn, kn, vn, on] = legacy ? ['query', 'key', 'value', 'proj_attn'] : ['to_q', 'to_k', 'to_v', 'to_out.0'];
  const h = await groupNorm(ctx, x, `${prefix}.group_norm`, channels, groups, VAE_NORM_EPS);
  // [N, C, H, W] → [N, H·W, C]
  const tokens = g.node('Transpose', [g.node('Reshape', [h, intsConst(ctx, [0, channels, -1])])], { perm: [0, 2, 1] });
  const q = await linear(ctx, tokens, `${prefix}.${qn}`, channels, channels);
  const k = await linear(ctx, tokens, `${prefix}.${kn}`, channels, channels);
  const v = await linear(ctx, tokens, `${prefix}.${vn}`, channels, channels);
  const scores = g.node('Mul', [g.node('MatMul', [q, g.node('Transpose', [k], { perm: [0, 2, 1] })]), scalarConst(ctx, 1 / Math.sqrt(channels))]);
  const attended = g.node('MatMul', [g.node('Softmax', [scores], { axis: -1 }), v]);
  const out = await linear(ctx, attended, `${prefix}.${on}`, channels, channels);
  // [N, H·W, C] → [N, C, H, W]
  const back = g.node('Reshape', [g.node('Transpose', [out], { perm: [0, 2, 1] }), g.node('Shape', [x])]);
  return g.node('Add', [back, x]);
}

/** diffusers' UNetMidBlock2D of the VAE (`prefix` = `encoder.mid_block` / `decoder.mid_block`). */
async function midBlock(ctx: NnContext, x: string, prefix: string, channels: number, config: VaeConfig): Promise<string> {
  const resnet = { groups: config.norm_num_groups, eps: VAE_NORM_EPS };
  let h = await resnetBlock(ctx, x, `${prefix}.resnets.0`, channels, channels, resnet);
  if (config.mid_block_add_attention ?? true) h = await vaeAttention(ctx, h, `${prefix}.attentions.0`, channels, config.norm_num_groups);
  return resnetBlock(ctx, h, `${prefix}.resnets.1`, channels, channels, resnet);
}

/** conv_norm_out → SiLU → conv_out. */
async function head(ctx: NnContext, x: string, prefix: string, cin: number, cout: number, groups: number): Promise<string> {
  return conv2d(ctx, silu(ctx, await groupNorm(ctx, x, `${prefix}.conv_norm_out`, cin, groups, VAE_NORM_EPS)), `${prefix}.conv_out`, cin, cout, 3);
}

function requireWeights(weights: WeightSource, names: readonly string[]): void {
  for (const name of names) if (!weights.has(name)) throw weightError(weights, name, 'is missing (is this an AutoencoderKL?)');
}

/**
 * The VAE decoder graph (`latent_sample` → `sample`) with its weights appended to `external`; returns
 * the serialized model. The caller closes `external` and writes the bytes beside it.
 */
export async function buildVaeDecoderGraph(config: VaeConfig, weights: WeightSource, external: ExternalDataWriter | undefined, options: VaeBuildOptions = {}): Promise<Uint8Array> {
  checkConfig(config);
  requireWeights(weights, ['decoder.conv_in.weight', 'decoder.conv_out.weight']);
  const g = new GraphBuilder('vae_decoder', external);
  const ctx = nnContext(g, weights, options.signal);
  const lc = config.latent_channels;
  const groups = config.norm_num_groups;
  const ch = [...config.block_out_channels].reverse();
  const latent = g.input('latent_sample', ONNX_FLOAT, ['batch_size', lc, 'height_latent', 'width_latent']);

  let h = config.use_post_quant_conv ?? true ? await conv2d(ctx, latent, 'post_quant_conv', lc, lc, 1) : latent;
  h = await conv2d(ctx, h, 'decoder.conv_in', lc, ch[0], 3);
  h = await midBlock(ctx, h, 'decoder.mid_block', ch[0], config);
  let cin = ch[0];
  for (let i = 0; i < ch.length; i++) {
    for (let j = 0; j <= config.layers_per_block; j++) {
      h = await resnetBlock(ctx, h, `decoder.up_blocks.${i}.resnets.${j}`, cin, ch[i], { groups, eps: VAE_NORM_EPS });
      cin = ch[i];
    }
    if (i < ch.length - 1) h = await upsample2d(ctx, h, `decoder.up_blocks.${i}.upsamplers.0`, cin);
  }
  h = await head(ctx, h, 'decoder', cin, config.out_channels ?? 3, groups);
  g.alias(h, 'sample');
  g.output('sample', ONNX_FLOAT, ['batch_size', config.out_channels ?? 3, 'height', 'width']);
  return g.build();
}

/**
 * The VAE encoder graph (`sample` → `latent_parameters`, mean and log-variance) with its weights appended
 * to `external`; returns the serialized model.
 */
export async function buildVaeEncoderGraph(config: VaeConfig, weights: WeightSource, external: ExternalDataWriter | undefined, options: VaeBuildOptions = {}): Promise<Uint8Array> {
  checkConfig(config);
  requireWeights(weights, ['encoder.conv_in.weight', 'encoder.conv_out.weight']);
  const g = new GraphBuilder('vae_encoder', external);
  const ctx = nnContext(g, weights, options.signal);
  const lc = config.latent_channels;
  const groups = config.norm_num_groups;
  const ch = config.block_out_channels;
  const cinImage = config.in_channels ?? 3;
  const image = g.input('sample', ONNX_FLOAT, ['batch_size', cinImage, 'height', 'width']);

  let h = await conv2d(ctx, image, 'encoder.conv_in', cinImage, ch[0], 3);
  let cin = ch[0];
  for (let i = 0; i < ch.length; i++) {
    for (let j = 0; j < config.layers_per_block; j++) {
      h = await resnetBlock(ctx, h, `encoder.down_blocks.${i}.resnets.${j}`, cin, ch[i], { groups, eps: VAE_NORM_EPS });
      cin = ch[i];
    }
    // diffusers pads (0, 1, 0, 1) then convolves with stride 2 and no padding: ONNX Conv pads [top, left, bottom, right].
    if (i < ch.length - 1) h = await conv2d(ctx, h, `encoder.down_blocks.${i}.downsamplers.0.conv`, cin, cin, 3, { stride: 2, pads: [0, 0, 1, 1] });
  }
  h = await midBlock(ctx, h, 'encoder.mid_block', cin, config);
  h = await head(ctx, h, 'encoder', cin, 2 * lc, groups);
  if (config.use_quant_conv ?? true) h = await conv2d(ctx, h, 'quant_conv', 2 * lc, 2 * lc, 1);
  g.alias(h, 'latent_parameters');
  g.output('latent_parameters', ONNX_FLOAT, ['batch_size', 2 * lc, 'height_latent', 'width_latent']);
  return g.build();
}
