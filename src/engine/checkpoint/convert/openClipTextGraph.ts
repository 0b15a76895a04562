// OpenCLIP's text transformer (open_clip's TextTransformer: SD 2.x's ViT-H/14 text tower under
// `cond_stage_model.model.*`, SDXL's second encoder, ViT-bigG/14, under `conditioner.embedders.1.model.*`)
// written as an ONNX graph by the CLIP text builder, which computes the same thing under transformers'
// names: OpenCLIP's blocks are pre-norm causal self-attention with exact GELU, as CLIPTextModel with
// hidden_act `gelu`. The weights are seen under transformers' names as diffusers'
// convert_open_clip_checkpoint maps them:
//
//   token_embedding.weight                     → text_model.embeddings.token_embedding.weight
//   positional_embedding [context, width]      → text_model.embeddings.position_embedding.weight
//   transformer.resblocks.N.ln_1 / ln_2        → text_model.encoder.layers.N.layer_norm1 / layer_norm2
//   transformer.resblocks.N.attn.in_proj_weight [3·width, width], in_proj_bias [3·width]
//                                              → …self_attn.q_proj / k_proj / v_proj (rows 0…w, w…2w, 2w…3w)
//   transformer.resblocks.N.attn.out_proj      → …self_attn.out_proj
//   transformer.resblocks.N.mlp.c_fc / c_proj  → …mlp.fc1 / fc2
//   ln_final                                   → text_model.final_layer_norm
//   text_projection [width, projection]        → text_projection.weight [projection, width] (transposed)
//
// Two uses, as the reference pipelines run them:
// - `penultimate` (SD 2.x, FrozenOpenCLIPEmbedder layer="penultimate"): the blocks but the last, then
//   ln_final → last_hidden_state (and pooler_output at the end-of-text token); diffusers' SD 2.x
//   text_encoder is this CLIPTextModel with one layer fewer than the file has (23 of ViT-H's 24).
// - `all-with-projection` (SDXL's second encoder, CLIPTextModelWithProjection): every block; outputs
//   last_hidden_state (after ln_final), text_embeds (the end-of-text row of it through text_projection)
//   and hidden_states.0 … hidden_states.<layers> (before ln_final), of which SDXL's UNet takes the
//   penultimate, hidden_states.<layers - 1>.
// Heads are 64 wide in every OpenCLIP text tower SD uses (ViT-H: 1024/16, bigG: 1280/20).
import { InputError } from '../../errors';
import type { ExternalDataWriter } from '../../onnx/graphBuilder';
import { buildClipTextGraph, type ClipTextConfig, type ClipTextGraphOptions } from './clipTextGraph';
import { weightError, type WeightSource } from './weightSource';

export type OpenClipTextUse = 'penultimate' | 'all-with-projection';

/** What the weights say about an OpenCLIP text tower. */
export interface OpenClipTextShape {
  readonly width: number;
  readonly heads: number;
  /** Residual blocks in the file. */
  readonly layers: number;
  readonly mlpWidth: number;
  readonly vocab: number;
  readonly context: number;
  /** text_projection's output width; undefined where the file has none (SD 2.x files may drop it). */
  readonly projectionDim?: number;
}

/** The ClipTextConfig of the CLIPTextModel(WithProjection) that computes `use` of a tower, plus its projection width. */
export interface OpenClipTextConfig extends ClipTextConfig {
  readonly projection_dim?: number;
}

function shapeOf(source: WeightSource, name: string): readonly number[] {
  if (!source.has(name)) throw weightError(source, name, 'is missing (an OpenCLIP text tower has it)');
  return source.shape(name);
}

/** Reads the tower's sizes off its tensor shapes; `headWidth` is 64 for every OpenCLIP tower SD uses. */
export function openClipTextShape(source: WeightSource, headWidth = 64): OpenClipTextShape {
  const [vocab, width] = shapeOf(source, 'token_embedding.weight');
  const [context] = shapeOf(source, 'positional_embedding');
  let layers = 0;
  while (source.has(`transformer.resblocks.${layers}.attn.in_proj_weight`)) layers++;
  if (layers === 0) throw weightError(source, 'transformer.resblocks.0.attn.in_proj_weight', 'is missing (an OpenCLIP text tower has it)');
  const [mlpWidth] = shapeOf(source, 'transformer.resblocks.0.mlp.c_fc.weight');
  if (width % headWidth !== 0) throw new InputError(`the OpenCLIP text width ${width} is not a multiple of the ${headWidth}-wide heads`, source.origin);
  const projectionDim = source.has('text_projection') ? source.shape('text_projection')[1] : undefined;
  return { width, heads: width / headWidth, layers, mlpWidth, vocab, context, projectionDim };
}

/** The CLIPTextModel config computing `use` of a tower of `shape` (diffusers' SD 2.x text_encoder config for ViT-H). */
export function openClipTextConfig(shape: OpenClipTextShape, use: OpenClipTextUse): OpenClipTextConfig {
  if (use === 'penultimate' && shape.layers < 2) throw new InputError(`an OpenCLIP text tower of ${shape.layers} block cannot give a penultimate layer`);
  return {
    architectures: [use === 'penultimate' ? 'CLIPTextModel' : 'CLIPTextModelWithProjection'],
    model_type: 'clip_text_model',
    vocab_size: shape.vocab,
    hidden_size: shape.width,
    intermediate_size: shape.mlpWidth,
    num_attention_heads: shape.heads,
    num_hidden_layers: use === 'penultimate' ? shape.layers - 1 : shape.layers,
    max_position_embeddings: shape.context,
    hidden_act: 'gelu',
    layer_norm_eps: 1e-5,
    // Pooling at argmax(input_ids): CLIP's end-of-text token has the largest id, as open_clip pools.
    bos_token_id: 0,
    eos_token_id: 2,
    pad_token_id: 1,
    ...(shape.projectionDim === undefined ? {} : { projection_dim: shape.projectionDim }),
  } as OpenClipTextConfig;
}

/** Rows [from, to) of a row-major [rows, cols] matrix (or a vector when cols is 1). */
function rows(values: Float32Array, from: number, to: number, cols: number): Float32Array {
  return values.slice(from * cols, to * cols);
}

/**
 * `source` (OpenCLIP names, prefix removed) seen under transformers' CLIPTextModel names, the fused
 * attention projections split into q, k and v, text_projection transposed to a Linear weight.
 */
export function openClipAsClipTextWeights(source: WeightSource, shape: OpenClipTextShape): WeightSource {
  const { width, layers } = shape;
  type Entry = { from: string; dims: readonly number[]; take?: (v: Float32Array) => Float32Array };
  const table = new Map<string, Entry>();
  table.set('text_model.embeddings.token_embedding.weight', { from: 'token_embedding.weight', dims: [shape.vocab, width] });
  table.set('text_model.embeddings.position_embedding.weight', { from: 'positional_embedding', dims: [shape.context, width] });
  table.set('text_model.final_layer_norm.weight', { from: 'ln_final.weight', dims: [width] });
  table.set('text_model.final_layer_norm.bias', { from: 'ln_final.bias', dims: [width] });
  if (shape.projectionDim !== undefined) {
    const p = shape.projectionDim;
    table.set('text_projection.weight', {
      from: 'text_projection',
      dims: [p, width],
      take: (v) => {
        const out = new Float32Array(v.length);
        for (let r = 0; r < width; r++) for (let c = 0; c < p; c++) out[c * width + r] = v[r * p + c];
        return out;
      },
    });
  }
  for (let i = 0; i < layers; i++) {
    const to = `text_model.encoder.layers.${i}`;
    const from = `transformer.resblocks.${i}`;
    for (const [j, part] of ['q_proj', 'k_proj', 'v_proj'].entries()) {
      table.set(`${to}.self_attn.${part}.weight`, { from: `${from}.attn.in_proj_weight`, dims: [width, width], take: (v) => rows(v, j * width, (j + 1) * width, width) });
      table.set(`${to}.self_attn.${part}.bias`, { from: `${from}.attn.in_proj_bias`, dims: [width], take: (v) => rows(v, j * width, (j + 1) * width, 1) });
    }
    for (const [mine, theirs] of [['self_attn.out_proj', 'attn.out_proj'], ['layer_norm1', 'ln_1'], ['layer_norm2', 'ln_2'], ['mlp.fc1', 'mlp.c_fc'], ['mlp.fc2', 'mlp.c_proj']]) {
      for (const kind of ['weight', 'bias']) {
        const name = `${from}.${theirs}.${kind}`;
        if (source.has(name)) table.set(`${to}.${mine}.${kind}`, { from: name, dims: source.shape(name) });
      }
    }
  }
  const fused = (entry: Entry) => (entry.take ? [entry.dims[0] * 3, ...entry.dims.slice(1)] : entry.dims);
  const view: WeightSource = {
    origin: source.origin,
    has: (name) => {
      const entry = table.get(name);
      return entry !== undefined && source.has(entry.from);
    },
    shape(name) {
      const entry = table.get(name);
      if (!entry || !source.has(entry.from)) throw weightError(view, name, 'is missing');
      const actual = source.shape(entry.from);
      // A fused projection or the transposed text projection must have the shape the split assumes.
      const expected = entry.from === 'text_projection' ? [width, entry.dims[0]] : fused(entry);
      if (entry.take && (actual.length !== expected.length || actual.some((d, k) => d !== expected[k]))) {
        throw weightError(source, entry.from, `has shape [${actual.join(', ')}], expected [${expected.join(', ')}]`);
      }
      return entry.take ? entry.dims : actual;
    },
    async get(name, signal) {
      const entry = table.get(name);
      if (!entry || !source.has(entry.from)) throw weightError(view, name, 'is missing');
      view.shape(name);
      const values = await source.get(entry.from, signal);
      return entry.take ? entry.take(values) : values;
    },
    names: () => [...table.keys()].filter((n) => view.has(n)),
  };
  return view;
}

export interface OpenClipTextGraphOptions extends Pick<ClipTextGraphOptions, 'signal' | 'onWeight'> {
  /** How the tower is used (see the header): SD 2.x `penultimate`, SDXL `all-with-projection`. */
  readonly use: OpenClipTextUse;
}

/**
 * Writes an OpenCLIP text tower's graph (weights into `external`, which the caller closes) and returns
 * model.onnx's bytes with the config.json it corresponds to. `source` holds the tower's tensors under
 * OpenCLIP's names without a prefix (safetensorsWeights(file, 'cond_stage_model.model.')).
 */
export async function buildOpenClipTextGraph(source: WeightSource, external: ExternalDataWriter, options: OpenClipTextGraphOptions): Promise<{ graph: Uint8Array; config: OpenClipTextConfig }> {
  const shape = openClipTextShape(source);
  const config = openClipTextConfig(shape, options.use);
  const withProjection = options.use === 'all-with-projection';
  if (withProjection && shape.projectionDim === undefined) throw weightError(source, 'text_projection', 'is missing; the pooled text embedding needs it');
  const graph = await buildClipTextGraph(config, openClipAsClipTextWeights(source, shape), external, {
    signal: options.signal,
    onWeight: options.onWeight,
    ...(withProjection ? { projectionDim: shape.projectionDim, hiddenStates: true } : {}),
  });
  return { graph, config };
}
