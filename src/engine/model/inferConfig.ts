// Component configs an ONNX export does not ship, inferred from its graphs. The diffusers conversion
// script (scripts/convert_stable_diffusion_checkpoint_to_onnx.py) and Olive / DirectML exports save an
// OnnxStableDiffusionPipeline, which writes model_index.json, scheduler/, tokenizer/ and each component's
// model.onnx, but no unet/, vae_decoder/ or text_encoder/config.json. modelConfig.ts asks here for the
// config a component lacks; the answer is a diffusers-style config object, validated like a file's.
// Graphs are read as outlines (onnx/onnxGraphOutline.ts): structure and shapes, never the weights.
//
// The rules, each tried in order (a "weight" is an initializer, looked up through Cast/Identity so
// float16 exports count too, and through a Transpose of a 2-D weight, read with its dims swapped: our
// checkpoint converter keeps linear weights [out, in] behind one):
// - UNet in/out channels: the fixed channel size of input `sample` / output `out_sample`; else the
//   input channels of the Conv reading `sample` (conv_in) / the output channels of the Conv writing
//   `out_sample` (conv_out). The conversion script marks `sample`'s channels dynamic, so the weights decide.
// - cross_attention_dim: the fixed last size of `encoder_hidden_states`; else the rows of the weights
//   of the MatMuls reading it (the attn2 key/value projections).
// - block_out_channels: the output channels of `down_blocks.<i>.resnets.<j>.conv2.weight`; else, for
//   graphs whose weights were renamed, the stride-2 Convs (each down block but the last ends in one)
//   followed by the first Conv after a Resize (the first up block's upsampler, as wide as the last block).
//   Its length gives the UNet's downsample factor.
// - sample_size: the fixed height and width of `sample`; else model_index.json `imgprompt.native_size`
//   ([width, height] in pixels) ÷ the VAE factor; else by cross-attention width, as the published
//   diffusers configs have it: 768 (CLIP ViT-L, SD 1.x) → 64; 1024 (OpenCLIP ViT-H, SD 2.x) → 96 when the
//   scheduler predicts v (stable-diffusion-2, 2.1: 768 px), else 64 (2-base, 2.1-base, SD-Turbo: 512 px).
// - VAE latent_channels: the fixed channels of `latent_sample`, else the input channels of the Conv
//   reading it (post_quant_conv). block_out_channels: `decoder.up_blocks.<i>...conv2.weight` reversed;
//   else the Conv after each Resize (the upsamplers, reversed) preceded by conv_out's input channels.
//   scaling_factor cannot be read from a graph: 0.18215, the value of SD 1.x and 2.x (the LDM configs'
//   `scale_factor`, diffusers' AutoencoderKL default), which diffusers' own OnnxStableDiffusionPipeline
//   hard-codes (`latents = 1 / 0.18215 * latents`). A VAE trained otherwise needs its config.json.
// - text encoder: vocab_size and hidden_size from the token embedding (`embeddings.token_embedding.weight`,
//   else the 2-D weight a Gather looks up with `input_ids`), max_position_embeddings from the position
//   embedding (`embeddings.position_embedding.weight`, else the one other 2-D weight of that width that
//   a Gather or Slice reads).
// What cannot be inferred is a ModelError naming the field, the graph and the config.json to add.
import { join } from 'node:path';
import { ModelError } from '../errors';
import type { SceneFileSystem } from '../io/sceneFileSystem';
import { readOnnxGraphOutline, type InitializerOutline, type NodeOutline, type OnnxGraphOutline, type ValueOutline } from '../onnx/onnxGraphOutline';

type Json = Record<string, unknown>;

/** A config built from a graph, and the graph it came from (errors name it). */
export interface InferredConfig {
  readonly json: Json;
  readonly path: string;
}

/** Stable Diffusion 1.x/2.x's VAE latent scale (see the header for where it comes from). */
export const SD_VAE_SCALING_FACTOR = 0.18215;

/** What the UNet's sample size may be derived from when its graph leaves it dynamic. */
export interface UNetInferenceContext {
  /** Pixels per latent cell, from the VAE's config (given or inferred). */
  readonly vaeScaleFactor: number;
  /** model_index.json, for `imgprompt.native_size`. */
  readonly index: Json;
  /** The scheduler's prediction type, which tells SD 2.x 768-v models from 512 ones. */
  readonly predictionType?: string;
}

const PASS_THROUGH = new Set(['Cast', 'Identity']);
const MAX_HOPS = 4;

/** An outline with the lookups inference needs: who reads and writes a tensor, which weight feeds a node. */
class Graph {
  private readonly readersOf = new Map<string, NodeOutline[]>();
  private readonly writerOf = new Map<string, NodeOutline>();
  private readonly weights = new Map<string, InitializerOutline>();

  constructor(
    readonly outline: OnnxGraphOutline,
    readonly path: string,
    readonly component: string,
  ) {
    for (const node of outline.nodes) {
      for (const input of node.inputs) {
        const list = this.readersOf.get(input);
        if (list) list.push(node);
        else this.readersOf.set(input, [node]);
      }
      for (const output of node.outputs) this.writerOf.set(output, node);
    }
    for (const init of outline.initializers) this.weights.set(init.name, init);
  }

  input(name: string): ValueOutline | undefined {
    return this.outline.inputs.find((v) => v.name === name);
  }

  output(name: string): ValueOutline | undefined {
    return this.outline.outputs.find((v) => v.name === name);
  }

  /** Nodes reading `name`, looking through Cast and Identity. */
  readers(name: string, hops = MAX_HOPS): NodeOutline[] {
    const out: NodeOutline[] = [];
    for (const node of this.readersOf.get(name) ?? []) {
      if (PASS_THROUGH.has(node.opType) && hops > 0) out.push(...this.readers(node.outputs[0], hops - 1));
      else out.push(node);
    }
    return out;
  }

  /** The node writing `name`, looking back through Cast and Identity. */
  writer(name: string, hops = MAX_HOPS): NodeOutline | undefined {
    const node = this.writerOf.get(name);
    return node && PASS_THROUGH.has(node.opType) && hops > 0 ? this.writer(node.inputs[0], hops - 1) : node;
  }

  /**
   * The initializer feeding a node's input `index` (directly or through Cast/Identity), with the dims the
   * node sees: a 2-D weight behind a Transpose (a converted checkpoint's [out, in] linear weight) reads
   * swapped.
   */
  weight(node: NodeOutline | undefined, index: number): InitializerOutline | undefined {
    let name = node?.inputs[index];
    let swapped = false;
    for (let hops = 0; name !== undefined && hops <= MAX_HOPS; hops++) {
      const init = this.weights.get(name);
      if (init) return swapped ? (init.dims.length === 2 ? { ...init, dims: [init.dims[1], init.dims[0]] } : undefined) : init;
      const writer = this.writerOf.get(name);
      const transpose: boolean = writer?.opType === 'Transpose' && !swapped && (writer.ints.get('perm') ?? [1, 0]).join(',') === '1,0';
      swapped ||= transpose;
      name = writer && (PASS_THROUGH.has(writer.opType) || transpose) ? writer.inputs[0] : undefined;
    }
    return undefined;
  }

  /** Initializers whose names match `pattern` (group 1: a block index), by index; undefined unless 0..n-1 all appear. */
  byBlock(pattern: RegExp, rank: number): InitializerOutline[] | undefined {
    const found = new Map<number, InitializerOutline>();
    for (const init of this.outline.initializers) {
      const m = pattern.exec(init.name);
      if (m && init.dims.length === rank && !found.has(Number(m[1]))) found.set(Number(m[1]), init);
    }
    const out: InitializerOutline[] = [];
    for (let i = 0; i < found.size; i++) {
      const init = found.get(i);
      if (!init) return undefined;
      out.push(init);
    }
    return out.length > 0 ? out : undefined;
  }

  /** The Convs reading the output of each Resize node, in graph order (the upsamplers' convolutions). */
  convsAfterResize(): NodeOutline[] {
    return this.outline.nodes.filter((n) => n.opType === 'Resize').flatMap((n) => this.readers(n.outputs[0]).filter((r) => r.opType === 'Conv').slice(0, 1));
  }

  /** A ModelError for a field that could not be inferred. */
  cannot(field: string, why: string): ModelError {
    return new ModelError(
      `${this.component}/config.json is missing and '${field}' cannot be inferred from this graph (${why}); add ${this.component}/config.json stating "${field}"`,
      this.path,
    );
  }
}

function fixed(value: ValueOutline | undefined, axis: number): number | undefined {
  const d = value?.dims?.[axis];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/** The graph of `<dir>/<component>/model.onnx`, or undefined when the file is not there. */
function loadGraph(dir: string, component: string, fs: SceneFileSystem): Graph | undefined {
  const path = join(dir, component, 'model.onnx');
  if (fs.stat(path) !== 'file') return undefined;
  try {
    return new Graph(readOnnxGraphOutline(path), path, component);
  } catch (error) {
    const e = new ModelError(`${component}/config.json is missing and the graph it would be inferred from cannot be read: ${error instanceof Error ? error.message : String(error)}`, path);
    e.cause = error;
    throw e;
  }
}

function sampleSize(g: Graph, sample: ValueOutline | undefined, crossAttentionDim: number, context: UNetInferenceContext): number | [number, number] {
  const h = fixed(sample, 2);
  const w = fixed(sample, 3);
  if (h !== undefined && w !== undefined) return h === w ? h : [h, w];
  const block = context.index.imgprompt;
  const native = typeof block === 'object' && block !== null ? (block as Json).native_size : undefined;
  if (Array.isArray(native) && native.length === 2 && native.every((x) => typeof x === 'number' && Number.isInteger(x / context.vaeScaleFactor) && x > 0)) {
    const [width, height] = (native as number[]).map((x) => x / context.vaeScaleFactor);
    return width === height ? width : [height, width];
  }
  if (crossAttentionDim === 768) return 64;
  if (crossAttentionDim === 1024) return context.predictionType === 'v_prediction' ? 96 : 64;
  throw g.cannot('sample_size', `'sample' has no fixed height and width, and cross-attention width ${crossAttentionDim} is neither SD 1.x's 768 nor SD 2.x's 1024`);
}

function unetBlocks(g: Graph): { blockOutChannels: number[]; downBlockTypes?: string[] } {
  const named = g.byBlock(/(?:^|\.)down_blocks\.(\d+)\.resnets\.\d+\.conv2\.weight$/, 4);
  if (named) {
    const hasAttention = (i: number) => g.outline.initializers.some((init) => init.name.includes(`down_blocks.${i}.attentions.`));
    return {
      blockOutChannels: named.map((w) => w.dims[0]),
      downBlockTypes: named.map((_, i) => (hasAttention(i) ? 'CrossAttnDownBlock2D' : 'DownBlock2D')),
    };
  }
  const stride2 = g.outline.nodes.filter((n) => n.opType === 'Conv' && (n.ints.get('strides') ?? []).length > 0 && n.ints.get('strides')!.every((s) => s === 2));
  const widths = stride2.map((n) => g.weight(n, 1)?.dims[0]);
  const last = g.weight(g.convsAfterResize()[0], 1)?.dims[0];
  if (stride2.length === 0 || last === undefined || widths.some((w) => w === undefined)) {
    throw g.cannot('block_out_channels', 'no down_blocks.*.conv2 weights, and no stride-2 convolutions and upsampler convolution to count instead');
  }
  return { blockOutChannels: [...(widths as number[]), last] };
}

/** The UNet's config from unet/model.onnx. Throws ModelError when the graph is missing or a field cannot be inferred. */
export function inferUNetConfig(dir: string, fs: SceneFileSystem, context: UNetInferenceContext): InferredConfig {
  const g = loadGraph(dir, 'unet', fs);
  if (!g) throw new ModelError('missing, and so is unet/model.onnx to infer it from (every model folder needs a UNet)', join(dir, 'unet', 'config.json'));
  const sample = g.input('sample');
  if (!sample) throw g.cannot('in_channels', "the graph has no input 'sample'");
  const inChannels = fixed(sample, 1) ?? g.weight(g.readers('sample').find((n) => n.opType === 'Conv'), 1)?.dims[1];
  if (inChannels === undefined) throw g.cannot('in_channels', "'sample' has no fixed channel count and no Conv reads it");
  const outChannels = fixed(g.output('out_sample'), 1) ?? g.weight(g.writer('out_sample'), 1)?.dims[0];
  if (outChannels === undefined) throw g.cannot('out_channels', "'out_sample' has no fixed channel count and no Conv writes it");
  const hidden = g.input('encoder_hidden_states');
  let crossAttentionDim = fixed(hidden, 2);
  if (crossAttentionDim === undefined) {
    const widths = new Set(g.readers('encoder_hidden_states').filter((n) => n.opType === 'MatMul').map((n) => g.weight(n, 1)).filter((w) => w?.dims.length === 2).map((w) => w!.dims[0]));
    if (widths.size === 1) crossAttentionDim = [...widths][0];
  }
  if (crossAttentionDim === undefined) throw g.cannot('cross_attention_dim', "'encoder_hidden_states' has no fixed width and no single projection width reads it");
  const { blockOutChannels, downBlockTypes } = unetBlocks(g);
  return {
    path: g.path,
    json: {
      _inferred_from: 'unet/model.onnx',
      in_channels: inChannels,
      out_channels: outChannels,
      cross_attention_dim: crossAttentionDim,
      block_out_channels: blockOutChannels,
      ...(downBlockTypes ? { down_block_types: downBlockTypes } : {}),
      sample_size: sampleSize(g, sample, crossAttentionDim, context),
    },
  };
}

/** The VAE's config from vae_decoder/model.onnx; undefined when there is no such graph. */
export function inferVAEConfig(dir: string, fs: SceneFileSystem): InferredConfig | undefined {
  const g = loadGraph(dir, 'vae_decoder', fs);
  if (!g) return undefined;
  const latent = g.input('latent_sample');
  if (!latent) throw g.cannot('latent_channels', "the graph has no input 'latent_sample'");
  const latentChannels = fixed(latent, 1) ?? g.weight(g.readers('latent_sample').find((n) => n.opType === 'Conv'), 1)?.dims[1];
  if (latentChannels === undefined) throw g.cannot('latent_channels', "'latent_sample' has no fixed channel count and no Conv reads it");
  let blockOutChannels = g.byBlock(/(?:^|\.)decoder\.up_blocks\.(\d+)\.resnets\.\d+\.conv2\.weight$/, 4)?.map((w) => w.dims[0]).reverse();
  if (!blockOutChannels) {
    const upsamplers = g.convsAfterResize().map((n) => g.weight(n, 1)?.dims[0]);
    const first = g.weight(g.writer(g.outline.outputs[0]?.name ?? ''), 1)?.dims[1];
    if (upsamplers.length === 0 || first === undefined || upsamplers.some((w) => w === undefined)) {
      throw g.cannot('block_out_channels', 'no decoder.up_blocks.*.conv2 weights, and no upsampler and output convolutions to count instead');
    }
    blockOutChannels = [first, ...(upsamplers as number[]).reverse()];
  }
  return {
    path: g.path,
    json: { _inferred_from: 'vae_decoder/model.onnx', latent_channels: latentChannels, block_out_channels: blockOutChannels, scaling_factor: SD_VAE_SCALING_FACTOR },
  };
}

/** The 2-D weights Gather or Slice nodes read, and the one looked up with `input_ids` (the token embedding). */
function embeddings(g: Graph): { token?: InitializerOutline; others: InitializerOutline[] } {
  const fromIds = new Set<string>(['input_ids']);
  // input_ids reaches the token lookup through a Cast or a Reshape (CLIP's view(-1, length)).
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    for (const name of [...fromIds]) {
      for (const n of g.readers(name)) if (['Reshape', 'Flatten', 'Unsqueeze', 'Squeeze'].includes(n.opType) && n.inputs[0] === name) fromIds.add(n.outputs[0]);
      for (const n of g.readers(name, 0)) if (PASS_THROUGH.has(n.opType)) fromIds.add(n.outputs[0]);
    }
  }
  let token: InitializerOutline | undefined;
  const others: InitializerOutline[] = [];
  for (const n of g.outline.nodes) {
    // A position table is looked up (Gather) or, when the exporter folded the position ids, sliced.
    if (n.opType !== 'Gather' && n.opType !== 'Slice') continue;
    const w = g.weight(n, 0);
    if (w?.dims.length !== 2) continue;
    if (n.opType === 'Gather' && fromIds.has(n.inputs[1])) token = w;
    else if (!others.includes(w)) others.push(w);
  }
  return { token, others: others.filter((w) => w !== token) };
}

/** The text encoder's config from <component>/model.onnx (text_encoder unless named); undefined when there is no such graph. */
export function inferTextEncoderConfig(dir: string, fs: SceneFileSystem, component = 'text_encoder'): InferredConfig | undefined {
  const g = loadGraph(dir, component, fs);
  if (!g) return undefined;
  const named = (suffix: string) => g.outline.initializers.find((i) => i.dims.length === 2 && (i.name === suffix || i.name.endsWith(`.${suffix}`)));
  const found = embeddings(g);
  const token = named('embeddings.token_embedding.weight') ?? found.token;
  if (!token) throw g.cannot('vocab_size', "no token embedding weight (embeddings.token_embedding.weight, or a 2-D weight looked up with 'input_ids')");
  const hiddenSize = fixed(g.output('last_hidden_state'), 2) ?? token.dims[1];
  const candidates = found.others.filter((w) => w.dims[1] === token.dims[1]);
  const position = named('embeddings.position_embedding.weight') ?? (candidates.length === 1 ? candidates[0] : undefined);
  if (!position) throw g.cannot('max_position_embeddings', 'no position embedding weight (embeddings.position_embedding.weight, or a single other 2-D table of the hidden width that a Gather or Slice reads)');
  return {
    path: g.path,
    json: { _inferred_from: `${component}/model.onnx`, vocab_size: token.dims[0], hidden_size: hiddenSize, max_position_embeddings: position.dims[0] },
  };
}
