// Writes the CLIP text encoder (transformers' CLIPTextModel) as an ONNX graph from its weights, with the
// graph inputs and outputs of optimum's Stable Diffusion export, so the converted model runs through the
// same text-encoder code (and its clip-skip, textual-inversion and LoRA rewrites) as an exported one:
//
//   input_ids int32 [batch_size, sequence_length]
//     → last_hidden_state float32 [batch_size, sequence_length, hidden_size]
//     → pooler_output     float32 [batch_size, hidden_size]
//
// or, as CLIPTextModelWithProjection (options.projectionDim), text_embeds [batch_size, projection_dim] in
// place of pooler_output; options.hiddenStates adds hidden_states.0 … hidden_states.<layers>.
//
// The computation, as transformers defines it (CLIPTextTransformer):
// - embeddings: token_embedding[input_ids] + position_embedding[0 … sequence_length - 1];
// - num_hidden_layers pre-norm layers: x += out_proj(attention(layer_norm1(x))), then
//   x += fc2(act(fc1(layer_norm2(x)))); attention has num_attention_heads heads, q scaled by head_dim^-0.5
//   after its bias, and a causal mask (the float32 lowest value above the diagonal, as transformers
//   builds it), softmax over keys;
// - act: hidden_act `quick_gelu` x·σ(1.702x), `gelu` the exact erf form, `gelu_new` / `gelu_pytorch_tanh`
//   the tanh approximation;
// - final_layer_norm (layer_norm_eps everywhere) → last_hidden_state;
// - pooler_output: last_hidden_state at argmax(input_ids) per row (where `<|endoftext|>` is, the largest
//   id of CLIP's vocabulary), or at the first position holding eos_token_id when the config names an
//   eos_token_id other than 2 (transformers keeps argmax for the legacy value 2 that openai's configs carry).
//
// Graph conventions (what the engine's graph rewrites look for):
// - one Gather of the [vocab_size, hidden_size] token table by input_ids itself (textual inversion
//   extends that table); the position table is read by Slice, not Gather;
// - LayerNormalization nodes and residual Adds of (stream, branch) (clip skip walks them back);
// - Linear weights under their parameter names (`….q_proj.weight`) as the second input of MatMul, then
//   Add of the bias: a float16 file range stays in torch's [out, in] layout behind Cast and
//   Transpose(perm [1, 0]) (nothing copied; onnxruntime folds both at load, see nnOps.ts), other sources
//   are stored transposed, [in, out]. The LoRA target finder follows the Transpose and knows which.
// Weights are read one at a time, shape-checked, and appended to the external-data file at once, so the
// memory held is one tensor (and its transposed copy) plus the graph.
import { ModelError, throwIfAborted } from '../../errors';
import { ONNX_FLOAT, ONNX_INT32, type ExternalDataWriter, GraphBuilder } from '../../onnx/graphBuilder';
import { ScratchFloats, transposed, transposeInto, transposeUint16Into } from './transposeMatrix';
import { checkedFloat16Range, checkedWeight, checkedWeightAsStored, type WeightSource } from './weightSource';

/** The fields of transformers' CLIPTextConfig (text_encoder/config.json) the graph needs. */
export interface ClipTextConfig {
  readonly hidden_size: number;
  readonly intermediate_size: number;
  readonly num_attention_heads: number;
  readonly num_hidden_layers: number;
  readonly max_position_embeddings: number;
  readonly layer_norm_eps: number;
  readonly hidden_act: string;
  readonly vocab_size: number;
  /** Absent or 2 (openai's configs): pool at argmax(input_ids). Otherwise: at the first position of this id. */
  readonly eos_token_id?: number;
}

export const CLIP_TEXT_INPUT = 'input_ids';
export const CLIP_TEXT_OUTPUTS = ['last_hidden_state', 'pooler_output'] as const;
/** The projected pooled output of a CLIPTextModelWithProjection (ClipTextGraphOptions.projectionDim). */
export const CLIP_TEXT_EMBEDS = 'text_embeds';

export interface ClipTextGraphOptions {
  readonly signal?: AbortSignal;
  /**
   * transformers' CLIPTextModelWithProjection: the pooled row through `text_projection.weight`
   * ([projection_dim, hidden_size], no bias) as `text_embeds` [batch_size, projection_dim], in place of
   * `pooler_output` (SDXL's second text encoder).
   */
  readonly projectionDim?: number;
  /**
   * Also output `hidden_states.0` … `hidden_states.<num_hidden_layers>` (the embeddings, then each
   * layer's output before the final layer norm), as transformers' output_hidden_states and optimum's
   * SDXL exports name them.
   */
  readonly hiddenStates?: boolean;
  /** Called after each weight is written: how many of how many. */
  readonly onWeight?: (done: number, total: number) => void;
}

const HIDDEN_ACTS = ['quick_gelu', 'gelu', 'gelu_new', 'gelu_pytorch_tanh'] as const;
type HiddenAct = (typeof HIDDEN_ACTS)[number];

/** The weight names the graph reads, in the order it reads them. */
export function clipTextWeightNames(config: Pick<ClipTextConfig, 'num_hidden_layers'>): string[] {
  const names = ['text_model.embeddings.token_embedding.weight', 'text_model.embeddings.position_embedding.weight'];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `text_model.encoder.layers.${i}`;
    for (const m of ['layer_norm1', 'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.out_proj', 'layer_norm2', 'mlp.fc1', 'mlp.fc2']) {
      names.push(`${p}.${m}.weight`, `${p}.${m}.bias`);
    }
  }
  names.push('text_model.final_layer_norm.weight', 'text_model.final_layer_norm.bias');
  return names;
}

/** Refuses a config the graph cannot be built from (names the field and what it holds). */
export function checkClipTextConfig(config: ClipTextConfig, origin?: string): void {
  const fail = (message: string): never => {
    throw new ModelError(`text encoder config: ${message}`, origin);
  };
  for (const field of ['hidden_size', 'intermediate_size', 'num_attention_heads', 'num_hidden_layers', 'max_position_embeddings', 'vocab_size'] as const) {
    const v = config[field] as unknown;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(`${field} is ${JSON.stringify(v)}; expected a positive integer`);
  }
  if (config.hidden_size % config.num_attention_heads !== 0) {
    fail(`hidden_size ${config.hidden_size} is not divisible by num_attention_heads ${config.num_attention_heads}`);
  }
  const eps = config.layer_norm_eps as unknown;
  if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps)) fail(`layer_norm_eps is ${JSON.stringify(eps)}; expected a positive number`);
  if (!(HIDDEN_ACTS as readonly unknown[]).includes(config.hidden_act)) fail(`hidden_act '${String(config.hidden_act)}' is not supported (${HIDDEN_ACTS.join(', ')})`);
  const eos = config.eos_token_id as unknown;
  if (eos !== undefined && (typeof eos !== 'number' || !Number.isInteger(eos) || eos < 0)) fail(`eos_token_id is ${JSON.stringify(eos)}; expected a token id`);
}

class ClipWriter {
  private done = 0;
  private readonly total: number;
  private readonly shared = new Map<string, string>();
  private readonly scratch = new ScratchFloats();

  constructor(
    readonly g: GraphBuilder,
    private readonly weights: WeightSource,
    private readonly config: ClipTextConfig,
    private readonly options: ClipTextGraphOptions,
  ) {
    this.total = clipTextWeightNames(config).length;
  }

  private async read(name: string, dims: readonly number[]): Promise<Float32Array> {
    throwIfAborted(this.options.signal);
    return checkedWeight(this.weights, name, dims, this.options.signal);
  }

  private stored(name: string, values: Float32Array, dims: readonly number[]): string {
    const out = this.g.weight(name, values, dims);
    this.options.onWeight?.(++this.done, this.total);
    return out;
  }

  /** A weight under its own name and shape. */
  async param(name: string, dims: readonly number[]): Promise<string> {
    return this.stored(name, await this.read(name, dims), dims);
  }

  ints(values: readonly number[]): string {
    const key = `i:${values.join(',')}`;
    let name = this.shared.get(key);
    if (!name) this.shared.set(key, (name = this.g.ints(values)));
    return name;
  }

  scalar(value: number): string {
    const key = `f:${value}`;
    let name = this.shared.get(key);
    if (!name) this.shared.set(key, (name = this.g.scalar(value)));
    return name;
  }

  /** torch's Linear `prefix` on x [..., cin]: MatMul by the weight stored [cin, cout], then Add of the bias. */
  async linear(x: string, prefix: string, cin: number, cout: number): Promise<string> {
    throwIfAborted(this.options.signal);
    // Transposed into the scratch buffer that g.weight writes out before the next layer; a float16 source's
    // stays float16 behind a Cast (half the bytes to write; onnxruntime widens it exactly when it folds the Cast).
    const range = checkedFloat16Range(this.weights, `${prefix}.weight`, [cout, cin]);
    let w: string;
    if (range) {
      w = this.g.node('Transpose', [this.g.weightFloat16Range(`${prefix}.weight`, range, [cout, cin])], { perm: [1, 0] });
      this.options.onWeight?.(++this.done, this.total);
      const b = await this.param(`${prefix}.bias`, [cout]);
      return this.g.node('Add', [this.g.node('MatMul', [x, w]), b]);
    }
    const stored = await checkedWeightAsStored(this.weights, `${prefix}.weight`, [cout, cin], this.options.signal, this.scratch.readBuffer(cout * cin));
    if (stored instanceof Uint16Array) {
      w = this.g.weightFloat16(`${prefix}.weight`, transposeUint16Into(stored, cout, cin, await this.scratch.takeHalves(stored.length, this.g)), [cin, cout]);
      this.options.onWeight?.(++this.done, this.total);
    } else {
      w = this.stored(`${prefix}.weight`, transposeInto(stored, cout, cin, await this.scratch.take(stored.length, this.g)), [cin, cout]);
    }
    const b = await this.param(`${prefix}.bias`, [cout]);
    return this.g.node('Add', [this.g.node('MatMul', [x, w]), b]);
  }

  async layerNorm(x: string, prefix: string): Promise<string> {
    const d = this.config.hidden_size;
    const scale = await this.param(`${prefix}.weight`, [d]);
    const bias = await this.param(`${prefix}.bias`, [d]);
    return this.g.node('LayerNormalization', [x, scale, bias], { axis: -1, epsilon: { float: this.config.layer_norm_eps } });
  }

  activation(x: string): string {
    const g = this.g;
    const act = this.config.hidden_act as HiddenAct;
    if (act === 'quick_gelu') return g.node('Mul', [x, g.node('Sigmoid', [g.node('Mul', [x, this.scalar(1.702)])])]);
    if (act === 'gelu') {
      // 0.5 · x · (1 + erf(x / √2))
      const erf = g.node('Erf', [g.node('Mul', [x, this.scalar(Math.SQRT1_2)])]);
      return g.node('Mul', [g.node('Mul', [x, this.scalar(0.5)]), g.node('Add', [erf, this.scalar(1)])]);
    }
    // 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))
    const cube = g.node('Mul', [g.node('Mul', [x, x]), x]);
    const inner = g.node('Mul', [g.node('Add', [x, g.node('Mul', [cube, this.scalar(0.044715)])]), this.scalar(Math.sqrt(2 / Math.PI))]);
    return g.node('Mul', [g.node('Mul', [x, this.scalar(0.5)]), g.node('Add', [g.node('Tanh', [inner]), this.scalar(1)])]);
  }

  /** Causal multi-head self-attention of layer `prefix` on h [B, S, D]; `mask` is [S, S]. */
  async attention(h: string, prefix: string, mask: string): Promise<string> {
    const g = this.g;
    const d = this.config.hidden_size;
    const heads = this.config.num_attention_heads;
    const headDim = d / heads;
    const split = this.ints([0, 0, heads, headDim]);
    const q = g.node('Mul', [await this.linear(h, `${prefix}.q_proj`, d, d), this.scalar(headDim ** -0.5)]);
    const k = await this.linear(h, `${prefix}.k_proj`, d, d);
    const v = await this.linear(h, `${prefix}.v_proj`, d, d);
    const qh = g.node('Transpose', [g.node('Reshape', [q, split])], { perm: [0, 2, 1, 3] }); // [B, H, S, Dh]
    const kt = g.node('Transpose', [g.node('Reshape', [k, split])], { perm: [0, 2, 3, 1] }); // [B, H, Dh, S]
    const vh = g.node('Transpose', [g.node('Reshape', [v, split])], { perm: [0, 2, 1, 3] });
    const scores = g.node('Add', [g.node('MatMul', [qh, kt]), mask]);
    const context = g.node('MatMul', [g.node('Softmax', [scores], { axis: -1 }), vh]);
    const merged = g.node('Reshape', [g.node('Transpose', [context], { perm: [0, 2, 1, 3] }), this.ints([0, 0, d])]);
    return this.linear(merged, `${prefix}.out_proj`, d, d);
  }
}

/**
 * Writes the graph (weights into `external`, which the caller closes afterwards) and returns model.onnx's
 * bytes. The weights come by transformers' names without a prefix (`text_model.embeddings.token_embedding.weight`).
 */
export async function buildClipTextGraph(config: ClipTextConfig, weights: WeightSource, external: ExternalDataWriter, options: ClipTextGraphOptions = {}): Promise<Uint8Array> {
  checkClipTextConfig(config, weights.origin);
  const { hidden_size: d, intermediate_size: inner, vocab_size: vocab, max_position_embeddings: positions } = config;
  const g = new GraphBuilder('clip_text_model', external);
  const w = new ClipWriter(g, weights, config, options);
  const ids = g.input(CLIP_TEXT_INPUT, ONNX_INT32, ['batch_size', 'sequence_length']);

  // Embeddings: the token table gathered by the ids, plus the first sequence_length rows of the position table.
  const tokens = g.node('Gather', [await w.param('text_model.embeddings.token_embedding.weight', [vocab, d]), ids], { axis: 0 });
  const length = g.node('Slice', [g.node('Shape', [ids]), w.ints([1]), w.ints([2])]); // [1] int64
  const zero = w.ints([0]);
  const position = g.node('Slice', [await w.param('text_model.embeddings.position_embedding.weight', [positions, d]), zero, length, zero]);
  let x = g.node('Add', [tokens, position]);

  // Causal mask [S, S]: 0 on and below the diagonal, float32's lowest value above it.
  const lowest = -3.4028234663852886e38;
  const full = new Float32Array(positions * positions);
  for (let r = 0; r < positions; r++) full.fill(lowest, r * positions + r + 1, (r + 1) * positions);
  const square = g.node('Concat', [length, length], { axis: 0 });
  const mask = g.node('Slice', [g.constant(full, [positions, positions], 'causal_mask'), w.ints([0, 0]), square, w.ints([0, 1])]);

  const states = [x];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `text_model.encoder.layers.${i}`;
    x = g.node('Add', [x, await w.attention(await w.layerNorm(x, `${p}.layer_norm1`), `${p}.self_attn`, mask)]);
    const h = w.activation(await w.linear(await w.layerNorm(x, `${p}.layer_norm2`), `${p}.mlp.fc1`, d, inner));
    x = g.node('Add', [x, await w.linear(h, `${p}.mlp.fc2`, inner, d)]);
    states.push(x);
  }
  const hidden = await w.layerNorm(x, 'text_model.final_layer_norm');
  g.alias(hidden, CLIP_TEXT_OUTPUTS[0]);

  // Pooling: the row of each sequence at its EOS position ([B, 1] int64 indices, GatherND over batch).
  const eos = config.eos_token_id;
  const keys = eos === undefined || eos === 2 ? ids : g.node('Cast', [g.node('Equal', [ids, g.constant(Int32Array.of(eos), [], 'eos_id')])], { to: ONNX_INT32 });
  const where = g.node('ArgMax', [keys], { axis: -1, keepdims: 1 });
  const pooled = g.node('GatherND', [hidden, where], { batch_dims: 1 });
  const projection = options.projectionDim;
  if (projection === undefined) {
    g.alias(pooled, CLIP_TEXT_OUTPUTS[1]);
  } else {
    if (!Number.isInteger(projection) || projection < 1) throw new ModelError(`text encoder: projection_dim ${projection} is not a positive integer`, weights.origin);
    const matrix = transposed(await checkedWeight(weights, 'text_projection.weight', [projection, d], options.signal), projection, d);
    g.alias(g.node('MatMul', [pooled, g.weight('text_projection.weight', matrix, [d, projection])]), CLIP_TEXT_EMBEDS);
  }

  g.output(CLIP_TEXT_OUTPUTS[0], ONNX_FLOAT, ['batch_size', 'sequence_length', d]);
  if (projection === undefined) g.output(CLIP_TEXT_OUTPUTS[1], ONNX_FLOAT, ['batch_size', d]);
  else g.output(CLIP_TEXT_EMBEDS, ONNX_FLOAT, ['batch_size', projection]);
  if (options.hiddenStates) {
    for (const [i, state] of states.entries()) {
      g.alias(state, `hidden_states.${i}`);
      g.output(`hidden_states.${i}`, ONNX_FLOAT, ['batch_size', 'sequence_length', d]);
    }
  }
  return g.build();
}
