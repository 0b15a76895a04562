// diffusers' UNet2DConditionModel (the SD 1.x / 2.x family) as the ONNX graph the engine runs, with
// optimum's I/O:
//   `sample` float32 [batch, in_channels, h, w], `timestep` int64 [steps] (optimum's export; float32 on
//   request: fractional timesteps then reach the embedding unrounded), `encoder_hidden_states` float32
//   [batch, sequence, cross_attention_dim] → `out_sample` float32 [batch, out_channels, h, w];
//   optionally `timestep_cond` [batch, time_cond_proj_dim] (LCM) and the ControlNet residual inputs
//   `down_block_additional_residual_{i}` (one per skip tensor) and `mid_block_additional_residual`;
//   with addition_embed_type `text_time` (SDXL) `text_embeds` [batch, projection_dim] and `time_ids`
//   [batch, n] (n = 6, or 5 with an aesthetic score), as optimum exports SDXL.
// Weights by diffusers name (`down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight`, ...);
// a single-file LDM checkpoint feeds the same builder through ldmUnetNames.ts.
//
// Structure (diffusers' unet_2d_condition / unet_2d_blocks / transformer_2d / attention):
// - timestep: broadcast to the batch, sinusoidal embedding of width block_out_channels[0] (frequencies
//   exp(-ln(10000)·i / (half - freq_shift)), [sin, cos] or [cos, sin] with flip_sin_to_cos), then
//   time_embedding.linear_1 → SiLU → linear_2; every resnet adds time_emb_proj(SiLU(emb)). SDXL (text_time)
//   adds add_embedding(concat(text_embeds, the sinusoidal embedding (addition_time_embed_dim wide, same
//   flip and shift) of each time id, flattened per row)) to emb: add_embedding = linear_1 → SiLU → linear_2.
// - conv_in; down blocks of layers_per_block resnets (each followed by a Transformer2DModel in a
//   CrossAttnDownBlock2D), then, except the last, a 3×3 stride-2 conv (padding downsample_padding). The
//   skip stack holds conv_in's output, each resnet/attention output and each downsampler output.
// - mid block: resnet, transformer, resnet (outputs divided by mid_block_scale_factor).
// - up blocks with layers_per_block + 1 resnets, each fed the concatenation [h, skip] (skips popped from
//   the top), then, except the last, nearest upsampling to the next skip's size (2× for even sizes) and
//   a 3×3 conv; then conv_norm_out (GroupNorm) → SiLU → conv_out.
// - Transformer2DModel: GroupNorm (ε 1e-6) → proj_in (1×1 conv, or a linear after flattening with
//   use_linear_projection) → transformer_layers_per_block BasicTransformerBlocks → proj_out → + input.
//   BasicTransformerBlock: x + attn1(LayerNorm(x)); + attn2(LayerNorm(·), context); + ff(LayerNorm(·)),
//   LayerNorm ε 1e-5; ff = GEGLU (proj to 2·4·C, split, a · GELU(b), exact erf GELU) → net.2 linear.
//   Attention: to_q/to_k/to_v without bias, heads of width C / heads, softmax(q·kᵀ / √d)·v, to_out.0.
// - Heads per block: config.num_attention_heads, else config.attention_head_dim, which diffusers reads
//   as the head count (SD 1.x: 8 everywhere; SD 2.x: [5, 10, 20, 20], 64-wide heads); the up blocks
//   take the list reversed, the mid block its last entry.
// Attention is written unfused in the layout torch exports (Reshape [0, -1, H, D] → Transpose; Kᵀ by
// perm [0, 2, 3, 1]; Mul by the scale; Softmax; MatMul; Transpose back; Reshape [0, -1, C]), which the
// session loader's attention fusion (onnx/attentionFusion.ts) turns into MultiHeadAttention.
import { ModelError } from '../../errors';
import { ONNX_FLOAT, ONNX_INT64, type ExternalDataWriter, GraphBuilder } from '../../onnx/graphBuilder';
import { conv2d, groupNorm, intsConst, linear, nnContext, resnetBlock, scalarConst, silu, storedWeight, type NnContext } from './nnOps';
import { weightError, type WeightSource } from './weightSource';

type PerBlock = number | readonly number[];

/** The fields of a diffusers UNet2DConditionModel config.json the builder reads (others are checked to be unset). */
export interface UNetConfig {
  readonly block_out_channels: readonly number[];
  readonly down_block_types: readonly string[];
  readonly up_block_types: readonly string[];
  readonly cross_attention_dim: PerBlock;
  readonly layers_per_block?: PerBlock;
  readonly attention_head_dim?: PerBlock;
  readonly num_attention_heads?: PerBlock | null;
  readonly transformer_layers_per_block?: PerBlock;
  readonly in_channels?: number;
  readonly out_channels?: number;
  readonly mid_block_type?: string | null;
  readonly use_linear_projection?: boolean;
  readonly norm_num_groups?: number;
  readonly norm_eps?: number;
  readonly flip_sin_to_cos?: boolean;
  readonly freq_shift?: number;
  readonly downsample_padding?: number;
  readonly mid_block_scale_factor?: number;
  readonly center_input_sample?: boolean;
  readonly time_cond_proj_dim?: number | null;
  readonly conv_in_kernel?: number;
  readonly conv_out_kernel?: number;
  readonly [key: string]: unknown;
}

export interface UNetBuildOptions {
  /** The `timestep` input's type: 'int64' as optimum exports it (the default), or 'float32'. */
  readonly timestep?: 'int64' | 'float32';
  /** Add the ControlNet residual inputs (the engine feeds zeros when no ControlNet runs). */
  readonly controlNetResiduals?: boolean;
  readonly signal?: AbortSignal;
  /** Called after each weight is stored: (weights done, weights in the source). */
  readonly onProgress?: (done: number, total: number) => void;
}

/** The resolved configuration. */
interface Plan {
  readonly ch: readonly number[];
  readonly down: readonly { readonly attention: boolean; readonly layers: number; readonly heads: number; readonly depth: number; readonly context: number }[];
  readonly up: readonly { readonly attention: boolean; readonly layers: number; readonly heads: number; readonly depth: number; readonly context: number }[];
  readonly mid: { readonly heads: number; readonly depth: number; readonly context: number } | undefined;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly groups: number;
  readonly eps: number;
  readonly linearProjection: boolean;
}

/** Config values the builder does not implement, with the value that is fine. */
const UNSUPPORTED: readonly [string, (v: unknown) => boolean][] = [
  ['class_embed_type', (v) => v == null],
  ['num_class_embeds', (v) => v == null],
  ['cross_attention_norm', (v) => v == null],
  ['addition_embed_type', (v) => v == null || v === 'text_time'],
  ['encoder_hid_dim', (v) => v == null],
  ['encoder_hid_dim_type', (v) => v == null],
  ['time_embedding_type', (v) => v == null || v === 'positional'],
  ['time_embedding_dim', (v) => v == null],
  ['time_embedding_act_fn', (v) => v == null],
  ['timestep_post_act', (v) => v == null],
  ['resnet_time_scale_shift', (v) => v == null || v === 'default'],
  ['act_fn', (v) => v == null || v === 'silu'],
  ['only_cross_attention', (v) => v == null || v === false || (Array.isArray(v) && v.every((x) => x === false))],
  ['dual_cross_attention', (v) => v == null || v === false],
  ['attention_type', (v) => v == null || v === 'default'],
  ['resnet_skip_time_act', (v) => v == null || v === false],
  ['resnet_out_scale_factor', (v) => v == null || v === 1],
  ['conv_in_kernel', (v) => v == null || v === 3],
  ['conv_out_kernel', (v) => v == null || v === 3],
  ['reverse_transformer_layers_per_block', (v) => v == null],
];

function perBlock(value: PerBlock | null | undefined, count: number, field: string, fallback?: number): number[] {
  const v = value ?? fallback;
  if (v === undefined) throw new RangeError(`UNet config: ${field} is missing`);
  const list = typeof v === 'number' ? new Array<number>(count).fill(v) : [...v];
  if (list.length !== count || !list.every((x) => Number.isInteger(x) && x > 0)) {
    throw new RangeError(`UNet config: ${field} ${JSON.stringify(v)} is not a positive integer or a list of ${count}`);
  }
  return list;
}

function resolve(config: UNetConfig): Plan {
  for (const [field, ok] of UNSUPPORTED) {
    if (!ok(config[field])) throw new ModelError(`the UNet config sets ${field} = ${JSON.stringify(config[field])}, which the SD 1.x/2.x graph builder does not implement`);
  }
  const ch = config.block_out_channels;
  const n = ch?.length ?? 0;
  if (n === 0 || !ch.every((c) => Number.isInteger(c) && c > 0)) throw new RangeError(`UNet config: block_out_channels ${JSON.stringify(ch)} is not a list of positive integers`);
  const downTypes = config.down_block_types ?? [];
  const upTypes = config.up_block_types ?? [];
  if (downTypes.length !== n || upTypes.length !== n) throw new RangeError(`UNet config: ${n} block_out_channels but ${downTypes.length} down and ${upTypes.length} up block types`);
  const attention = (t: string, cross: string, plain: string): boolean => {
    if (t !== cross && t !== plain) throw new ModelError(`the UNet config has block type ${t}; the SD 1.x/2.x builder knows ${cross} and ${plain}`);
    return t === cross;
  };
  const midType = config.mid_block_type === undefined ? 'UNetMidBlock2DCrossAttn' : config.mid_block_type;
  if (midType !== null && midType !== 'UNetMidBlock2DCrossAttn') throw new ModelError(`the UNet config has mid block ${midType}; the builder knows UNetMidBlock2DCrossAttn`);
  const layers = perBlock(config.layers_per_block, n, 'layers_per_block', 2);
  // diffusers: num_attention_heads defaults to attention_head_dim, which is the head count (a naming
  // accident kept for compatibility); the head width is the block's channels over it.
  const heads = perBlock(config.num_attention_heads ?? config.attention_head_dim, n, 'attention_head_dim', 8);
  const depth = perBlock(config.transformer_layers_per_block, n, 'transformer_layers_per_block', 1);
  const context = perBlock(config.cross_attention_dim, n, 'cross_attention_dim');
  const groups = config.norm_num_groups ?? 32;
  ch.forEach((c, i) => {
    if (c % groups !== 0) throw new RangeError(`UNet config: ${c} channels do not split into ${groups} groups`);
    if (c % heads[i] !== 0) throw new RangeError(`UNet config: ${c} channels do not split into ${heads[i]} heads`);
  });
  if (ch[0] % 2 !== 0) throw new RangeError(`UNet config: the timestep embedding width ${ch[0]} is odd`);
  const r = (list: readonly number[]) => [...list].reverse();
  const [rLayers, rHeads, rDepth, rContext] = [r(layers), r(heads), r(depth), r(context)];
  return {
    ch,
    down: downTypes.map((t, i) => ({ attention: attention(t, 'CrossAttnDownBlock2D', 'DownBlock2D'), layers: layers[i], heads: heads[i], depth: depth[i], context: context[i] })),
    up: upTypes.map((t, i) => ({ attention: attention(t, 'CrossAttnUpBlock2D', 'UpBlock2D'), layers: rLayers[i] + 1, heads: rHeads[i], depth: rDepth[i], context: rContext[i] })),
    mid: midType === null ? undefined : { heads: heads[n - 1], depth: depth[n - 1], context: context[n - 1] },
    inChannels: config.in_channels ?? 4,
    outChannels: config.out_channels ?? 4,
    groups,
    eps: config.norm_eps ?? 1e-5,
    linearProjection: config.use_linear_projection ?? false,
  };
}

/** torch's LayerNorm `prefix` over the last axis. */
async function layerNorm(ctx: NnContext, x: string, prefix: string, width: number, eps: number): Promise<string> {
  const gamma = await storedWeight(ctx, `${prefix}.weight`, [width]);
  const beta = await storedWeight(ctx, `${prefix}.bias`, [width]);
  return ctx.g.node('LayerNormalization', [x, gamma, beta], { axis: -1, epsilon: { float: eps } });
}

/** diffusers' Attention (`prefix`): `heads` heads over x [B, S, C] attending to context [B, T, contextDim] (x itself when undefined). */
async function attention(ctx: NnContext, x: string, context: string | undefined, prefix: string, channels: number, contextDim: number, heads: number): Promise<string> {
  const { g } = ctx;
  const d = channels / heads;
  const kv = context ?? x;
  const q = await linear(ctx, x, `${prefix}.to_q`, channels, channels, false);
  const k = await linear(ctx, kv, `${prefix}.to_k`, contextDim, channels, false);
  const v = await linear(ctx, kv, `${prefix}.to_v`, contextDim, channels, false);
  const split = (t: string, perm: number[]) => g.node('Transpose', [g.node('Reshape', [t, intsConst(ctx, [0, -1, heads, d])])], { perm });
  const scores = g.node('Mul', [g.node('MatMul', [split(q, [0, 2, 1, 3]), split(k, [0, 2, 3, 1])]), scalarConst(ctx, 1 / Math.sqrt(d))]);
  const attended = g.node('MatMul', [g.node('Softmax', [scores], { axis: -1 }), split(v, [0, 2, 1, 3])]);
  const merged = g.node('Reshape', [g.node('Transpose', [attended], { perm: [0, 2, 1, 3] }), intsConst(ctx, [0, -1, channels])]);
  return linear(ctx, merged, `${prefix}.to_out.0`, channels, channels);
}

/** diffusers' FeedForward with GEGLU (`prefix` = `….ff`): net.0.proj → a · GELU(gate) → net.2. */
async function feedForward(ctx: NnContext, x: string, prefix: string, channels: number): Promise<string> {
  const { g } = ctx;
  const inner = 4 * channels;
  const [a, gate] = g.nodeN('Split', [await linear(ctx, x, `${prefix}.net.0.proj`, channels, 2 * inner), intsConst(ctx, [inner, inner])], 2, { axis: -1 });
  // GELU as torch exports it (approximate 'none'): x · (erf(x / √2) + 1) · 0.5
  const erf = g.node('Erf', [g.node('Div', [gate, scalarConst(ctx, Math.SQRT2)])]);
  const gelu = g.node('Mul', [g.node('Mul', [gate, g.node('Add', [erf, scalarConst(ctx, 1)])]), scalarConst(ctx, 0.5)]);
  return linear(ctx, g.node('Mul', [a, gelu]), `${prefix}.net.2`, inner, channels);
}

/** Transformer2DModel (`prefix`) on x [B, C, H, W] with `depth` BasicTransformerBlocks. */
async function transformer2d(ctx: NnContext, x: string, context: string, prefix: string, channels: number, block: { heads: number; depth: number; context: number }, plan: Plan): Promise<string> {
  const { g } = ctx;
  const normed = await groupNorm(ctx, x, `${prefix}.norm`, channels, plan.groups, 1e-6);
  const flatten = (t: string) => g.node('Transpose', [g.node('Reshape', [t, intsConst(ctx, [0, channels, -1])])], { perm: [0, 2, 1] });
  const unflatten = (t: string) => g.node('Reshape', [g.node('Transpose', [t], { perm: [0, 2, 1] }), g.node('Shape', [x])]);
  let h = plan.linearProjection ? await linear(ctx, flatten(normed), `${prefix}.proj_in`, channels, channels) : flatten(await conv2d(ctx, normed, `${prefix}.proj_in`, channels, channels, 1));
  for (let b = 0; b < block.depth; b++) {
    const p = `${prefix}.transformer_blocks.${b}`;
    h = g.node('Add', [h, await attention(ctx, await layerNorm(ctx, h, `${p}.norm1`, channels, 1e-5), undefined, `${p}.attn1`, channels, channels, block.heads)]);
    h = g.node('Add', [h, await attention(ctx, await layerNorm(ctx, h, `${p}.norm2`, channels, 1e-5), context, `${p}.attn2`, channels, block.context, block.heads)]);
    h = g.node('Add', [h, await feedForward(ctx, await layerNorm(ctx, h, `${p}.norm3`, channels, 1e-5), `${p}.ff`, channels)]);
  }
  const out = plan.linearProjection ? unflatten(await linear(ctx, h, `${prefix}.proj_out`, channels, channels)) : await conv2d(ctx, unflatten(h), `${prefix}.proj_out`, channels, channels, 1);
  return g.node('Add', [out, x]);
}

/** The sinusoidal frequencies of diffusers' get_timestep_embedding, rounded to float32 at each step as torch computes them. */
export function timestepFrequencies(width: number, freqShift: number): Float32Array {
  const half = width / 2;
  const f = Math.fround;
  return Float32Array.from({ length: half }, (_v, i) => f(Math.exp(f(f(f(-Math.log(10000)) * i) / (half - freqShift)))));
}

/** Sinusoidal embedding [..., width] of `values` [...] (diffusers' get_timestep_embedding, last axis appended). */
function sinusoidal(ctx: NnContext, values: string, width: number, config: UNetConfig): string {
  const { g } = ctx;
  const args = g.node('Mul', [g.node('Unsqueeze', [values, intsConst(ctx, [-1])]), g.constant(timestepFrequencies(width, config.freq_shift ?? 0), [width / 2], 'freqs')]);
  const [sin, cos] = [g.node('Sin', [args]), g.node('Cos', [args])];
  return g.node('Concat', config.flip_sin_to_cos ?? true ? [cos, sin] : [sin, cos], { axis: -1 });
}

/** SDXL's text_time inputs: the pooled text embedding and the size/crop conditioning. */
interface TextTime {
  readonly textEmbeds: string;
  readonly timeIds: string;
  readonly embedDim: number;
  readonly inputWidth: number;
}

/** SiLU(time_embedding(timestep embedding) [+ add_embedding(text_time)]) [B, 4·C0], broadcast to the batch of `sample`. */
async function timeEmbedding(ctx: NnContext, sample: string, timestep: string, cond: string | undefined, config: UNetConfig, plan: Plan, textTime?: TextTime): Promise<string> {
  const { g } = ctx;
  const width = plan.ch[0];
  const t = g.node('Cast', [timestep], { to: ONNX_FLOAT });
  const batch = g.node('Shape', [sample], { start: 0, end: 1 });
  const args = g.node('Mul', [g.node('Unsqueeze', [g.node('Expand', [t, batch]), intsConst(ctx, [1])]), g.constant(timestepFrequencies(width, config.freq_shift ?? 0), [1, width / 2], 'freqs')]);
  const [sin, cos] = [g.node('Sin', [args]), g.node('Cos', [args])];
  let emb = g.node('Concat', config.flip_sin_to_cos ?? true ? [cos, sin] : [sin, cos], { axis: 1 });
  if (cond) emb = g.node('Add', [emb, await linear(ctx, cond, 'time_embedding.cond_proj', config.time_cond_proj_dim as number, width, false)]);
  emb = await linear(ctx, silu(ctx, await linear(ctx, emb, 'time_embedding.linear_1', width, 4 * width)), 'time_embedding.linear_2', 4 * width, 4 * width);
  if (textTime) {
    const timeEmbeds = g.node('Reshape', [sinusoidal(ctx, textTime.timeIds, textTime.embedDim, config), intsConst(ctx, [0, -1])]);
    const added = g.node('Concat', [textTime.textEmbeds, timeEmbeds], { axis: 1 });
    const aug = await linear(ctx, silu(ctx, await linear(ctx, added, 'add_embedding.linear_1', textTime.inputWidth, 4 * width)), 'add_embedding.linear_2', 4 * width, 4 * width);
    emb = g.node('Add', [emb, aug]);
  }
  return silu(ctx, emb);
}

/** diffusers' Upsample2D: nearest to `like`'s height and width (2× when the down path halved evenly), then the 3×3 conv. */
async function upsample(ctx: NnContext, x: string, like: string, prefix: string, channels: number): Promise<string> {
  const { g } = ctx;
  const sizes = g.node('Concat', [g.node('Shape', [x], { start: 0, end: 2 }), g.node('Shape', [like], { start: 2, end: 4 })], { axis: 0 });
  const up = g.node('Resize', [x, '', '', sizes], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });
  return conv2d(ctx, up, `${prefix}.conv`, channels, channels, 3);
}

/**
 * The `text_embeds` and `time_ids` inputs of a text_time UNet, sized from add_embedding.linear_1's input
 * width: projection_class_embeddings_input_dim = projection width + time ids × addition_time_embed_dim.
 */
function textTimeInputs(g: GraphBuilder, config: UNetConfig, weights: WeightSource): TextTime {
  const embedDim = config.addition_time_embed_dim;
  if (typeof embedDim !== 'number' || !Number.isInteger(embedDim) || embedDim < 2 || embedDim % 2 !== 0) {
    throw new RangeError(`UNet config: addition_time_embed_dim ${JSON.stringify(embedDim)} is not a positive even integer`);
  }
  const shape = weights.has('add_embedding.linear_1.weight') ? weights.shape('add_embedding.linear_1.weight') : undefined;
  if (!shape || shape.length !== 2) throw weightError(weights, 'add_embedding.linear_1.weight', 'is missing or not a matrix (addition_embed_type text_time needs it)');
  const inputWidth = shape[1];
  const stated = config.projection_class_embeddings_input_dim;
  if (stated != null && stated !== inputWidth) throw new ModelError(`UNet config: projection_class_embeddings_input_dim ${JSON.stringify(stated)} but add_embedding.linear_1 takes ${inputWidth}`);
  // SDXL base takes six ids (2816 = 1280 + 6 · 256); the refiner five (original size, crop, aesthetic score).
  const ids = config.requires_aesthetics_score === true ? 5 : 6;
  const projection = inputWidth - ids * embedDim;
  if (projection < 1) throw new ModelError(`UNet config: add_embedding takes ${inputWidth} values, fewer than ${ids} time ids of ${embedDim}`);
  return {
    textEmbeds: g.input('text_embeds', ONNX_FLOAT, ['batch_size', projection]),
    timeIds: g.input('time_ids', ONNX_FLOAT, ['batch_size', ids]),
    embedDim,
    inputWidth,
  };
}

/** A WeightSource that records which names were read, for the unused-weights check and progress. */
function tracked(source: WeightSource, used: Set<string>, onRead: () => void): WeightSource {
  return {
    origin: source.origin,
    has: (name) => source.has(name),
    shape: (name) => source.shape(name),
    names: () => source.names(),
    async get(name, signal) {
      const values = await source.get(name, signal);
      used.add(name);
      onRead();
      return values;
    },
    async getFloat16(name, signal, into) {
      const bits = await source.getFloat16?.(name, signal, into);
      if (bits) {
        used.add(name);
        onRead();
      }
      return bits;
    },
    storedRange(name) {
      const range = source.storedRange?.(name);
      // Counted where the range is used: float16 is copied on as it is (checkedFloat16Range); other dtypes are read with get.
      if (range?.dtype === 'F16') {
        used.add(name);
        onRead();
      }
      return range;
    },
  };
}

/**
 * The UNet graph with its weights appended to `external` (inline when undefined); returns the serialized
 * model. The caller closes `external` and writes the bytes beside it. Throws when a weight is missing or
 * misshapen, or when the source has weights the configuration does not use (a config that does not
 * describe the checkpoint).
 */
export async function buildUNetGraph(config: UNetConfig, weights: WeightSource, external: ExternalDataWriter | undefined, options: UNetBuildOptions = {}): Promise<Uint8Array> {
  const plan = resolve(config);
  for (const name of ['conv_in.weight', 'time_embedding.linear_1.weight', 'conv_out.weight']) {
    if (!weights.has(name)) throw weightError(weights, name, 'is missing (is this a UNet2DConditionModel?)');
  }
  const used = new Set<string>();
  const total = weights.names().length;
  const source = tracked(weights, used, () => options.onProgress?.(used.size, total));
  const g = new GraphBuilder('unet', external);
  const ctx = nnContext(g, source, options.signal);
  const { ch, groups, eps } = plan;
  const sample = g.input('sample', ONNX_FLOAT, ['batch_size', plan.inChannels, 'height', 'width']);
  const timestep = g.input('timestep', options.timestep === 'float32' ? ONNX_FLOAT : ONNX_INT64, ['steps']);
  if (new Set(plan.down.map((b) => b.context)).size !== 1) {
    throw new ModelError('the UNet config gives different cross_attention_dim per block, which one encoder_hidden_states input cannot feed');
  }
  const context = g.input('encoder_hidden_states', ONNX_FLOAT, ['batch_size', 'sequence_length', plan.down[0].context]);
  const condWidth = config.time_cond_proj_dim;
  if (condWidth != null && !(Number.isInteger(condWidth) && condWidth > 0)) throw new RangeError(`UNet config: time_cond_proj_dim ${JSON.stringify(condWidth)} is not a positive integer`);
  const cond = condWidth ? g.input('timestep_cond', ONNX_FLOAT, ['batch_size', condWidth]) : undefined;

  const textTime = config.addition_embed_type === 'text_time' ? textTimeInputs(g, config, weights) : undefined;
  const temb = { value: await timeEmbedding(ctx, sample, timestep, cond, config, plan, textTime), channels: 4 * ch[0] };
  const resnet = (x: string, prefix: string, cin: number, cout: number) => resnetBlock(ctx, x, prefix, cin, cout, { groups, eps, temb });

  let h = config.center_input_sample ? g.node('Sub', [g.node('Mul', [sample, scalarConst(ctx, 2)]), scalarConst(ctx, 1)]) : sample;
  h = await conv2d(ctx, h, 'conv_in', plan.inChannels, ch[0], 3);
  const skips: { value: string; channels: number }[] = [{ value: h, channels: ch[0] }];
  let cin = ch[0];
  for (const [i, block] of plan.down.entries()) {
    for (let j = 0; j < block.layers; j++) {
      h = await resnet(h, `down_blocks.${i}.resnets.${j}`, cin, ch[i]);
      cin = ch[i];
      if (block.attention) h = await transformer2d(ctx, h, context, `down_blocks.${i}.attentions.${j}`, cin, block, plan);
      skips.push({ value: h, channels: cin });
    }
    if (i < ch.length - 1) {
      const p = config.downsample_padding ?? 1;
      // diffusers pads right and bottom by one when the padding is 0.
      h = await conv2d(ctx, h, `down_blocks.${i}.downsamplers.0.conv`, cin, cin, 3, { stride: 2, pads: p === 0 ? [0, 0, 1, 1] : [p, p, p, p] });
      skips.push({ value: h, channels: cin });
    }
  }
  if (options.controlNetResiduals) {
    skips.forEach((s, i) => {
      const name = g.input(`down_block_additional_residual_${i}`, ONNX_FLOAT, ['batch_size', s.channels, `residual_${i}_height`, `residual_${i}_width`]);
      s.value = g.node('Add', [s.value, name]);
    });
  }

  if (plan.mid) {
    const scale = config.mid_block_scale_factor ?? 1;
    const scaled = (t: string) => (scale === 1 ? t : g.node('Div', [t, scalarConst(ctx, scale)]));
    h = scaled(await resnet(h, 'mid_block.resnets.0', cin, cin));
    h = await transformer2d(ctx, h, context, 'mid_block.attentions.0', cin, plan.mid, plan);
    h = scaled(await resnet(h, 'mid_block.resnets.1', cin, cin));
  }
  if (options.controlNetResiduals) h = g.node('Add', [h, g.input('mid_block_additional_residual', ONNX_FLOAT, ['batch_size', cin, 'residual_mid_height', 'residual_mid_width'])]);

  const rch = [...ch].reverse();
  for (const [i, block] of plan.up.entries()) {
    for (let j = 0; j < block.layers; j++) {
      const skip = skips.pop();
      if (!skip) throw new ModelError('the UNet config has more up-block resnets than skip connections (layers_per_block mismatch)');
      h = await resnet(g.node('Concat', [h, skip.value], { axis: 1 }), `up_blocks.${i}.resnets.${j}`, cin + skip.channels, rch[i]);
      cin = rch[i];
      if (block.attention) h = await transformer2d(ctx, h, context, `up_blocks.${i}.attentions.${j}`, cin, block, plan);
    }
    if (i < ch.length - 1) {
      const next = skips[skips.length - 1];
      if (!next) throw new ModelError('the UNet config has fewer skip connections than up blocks (layers_per_block mismatch)');
      h = await upsample(ctx, h, next.value, `up_blocks.${i}.upsamplers.0`, cin);
    }
  }
  if (skips.length > 0) throw new ModelError(`the UNet config leaves ${skips.length} skip connections unused (layers_per_block mismatch)`);
  h = await conv2d(ctx, silu(ctx, await groupNorm(ctx, h, 'conv_norm_out', cin, groups, eps)), 'conv_out', cin, plan.outChannels, 3);
  g.alias(h, 'out_sample');
  g.output('out_sample', ONNX_FLOAT, ['batch_size', plan.outChannels, 'height', 'width']);

  const unused = weights.names().filter((n) => !used.has(n));
  if (unused.length > 0) {
    throw new ModelError(`${unused.length} UNet weight${unused.length === 1 ? '' : 's'} of ${weights.origin} are not used by its configuration (${unused.slice(0, 3).join(', ')}${unused.length > 3 ? ', …' : ''}): the config does not describe these weights`);
  }
  return g.build();
}
