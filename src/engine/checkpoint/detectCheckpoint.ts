// Which model a weights file holds, told from its tensor names and shapes alone (the way ComfyUI's
// model detection and diffusers' single-file loader tell them apart; the key names are the ecosystem's).
// Single-file LDM checkpoints (`model.diffusion_model.*`, `first_stage_model.*`, `cond_stage_model.*` or
// `conditioner.embedders.*`), diffusers UNet files and bare diffusion transformers are recognised, and so
// are the families the local engine does not run, by name, so an error can say what the file is.
import type { SafetensorsTensorInfo } from '../lora/safetensors';
import type { CheckpointHeader } from './checkpointHeader';

export type CheckpointFamily =
  | 'sd1'
  | 'sd2'
  | 'sdxl'
  | 'sdxl-refiner'
  | 'sd3'
  | 'flux1'
  | 'flux2'
  | 'chroma'
  | 'z-image'
  | 'lumina2'
  | 'qwen-image'
  | 'hidream'
  | 'auraflow'
  | 'hunyuan-dit'
  | 'pixart'
  | 'stable-cascade'
  | 'vae'
  | 'lora'
  | 'unknown';

export interface CheckpointDescription {
  readonly family: CheckpointFamily;
  /** Human-readable, e.g. `Stable Diffusion 1.x (inpainting)`. */
  readonly label: string;
  /** `ldm`: an original single-file checkpoint; `diffusers`: a diffusers component file; `diffusion-model`: the denoiser alone. */
  readonly layout: 'ldm' | 'diffusers' | 'diffusion-model' | 'other';
  /** A UNet-family model (SD 1.x/2.x/XL) rather than a flow-matching transformer. */
  readonly unetFamily: boolean;
  /** Facts read off the shapes, e.g. `UNet input channels 9`, `cross-attention width 768`. */
  readonly details: readonly string[];
  /** Which components the file holds besides the denoiser. */
  readonly components: readonly ('text encoder' | 'second text encoder' | 'VAE')[];
  readonly parameters: number;
  /** Tensor dtypes by how many tensors use them, most first. */
  readonly dtypes: readonly string[];
}

type Tensors = ReadonlyMap<string, SafetensorsTensorInfo>;

function shapeOf(tensors: Tensors, name: string): readonly number[] | undefined {
  return tensors.get(name)?.shape;
}

/** The denoiser's key prefix: ComfyUI/LDM files use `model.diffusion_model.`; bare files have none. */
function denoiserPrefix(names: readonly string[]): string {
  for (const prefix of ['model.diffusion_model.', 'model.', 'net.']) {
    if (names.filter((n) => n.startsWith(prefix)).length > 5) return prefix;
  }
  return '';
}

function parameters(tensors: Tensors): number {
  let n = 0;
  for (const t of tensors.values()) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}

function dtypes(tensors: Tensors): string[] {
  const counts = new Map<string, number>();
  for (const t of tensors.values()) counts.set(t.dtype, (counts.get(t.dtype) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([d]) => d);
}

/** The first cross-attention key weight under `prefix` (its second dimension is the text width). */
function crossAttentionWidth(tensors: Tensors, prefix: string): number | undefined {
  for (const [name, info] of tensors) {
    if (name.startsWith(prefix) && /\.attn2\.to_k\.weight$/.test(name)) return info.shape[1];
  }
  return undefined;
}

interface Detected {
  family: CheckpointFamily;
  label: string;
  unetFamily: boolean;
  details: string[];
}

/** Flow-matching and other transformer families, by a key only they have (after the prefix). */
function detectTransformer(has: (key: string) => boolean, shape: (key: string) => readonly number[] | undefined): Detected | undefined {
  const found = (family: CheckpointFamily, label: string, details: string[] = []): Detected => ({ family, label, unetFamily: false, details });
  if (has('joint_blocks.0.context_block.attn.qkv.weight')) return found('sd3', 'Stable Diffusion 3 / 3.5 (MMDiT)');
  if ((has('double_blocks.0.img_attn.norm.key_norm.scale') || has('double_blocks.0.img_attn.norm.key_norm.weight')) && (has('img_in.weight') || has('distilled_guidance_layer.norms.0.scale'))) {
    if (has('double_stream_modulation_img.lin.weight')) return found('flux2', 'FLUX.2');
    if (has('distilled_guidance_layer.norms.0.scale') || has('distilled_guidance_layer.0.norms.0.scale')) return found('chroma', 'Chroma (FLUX.1-derived)');
    return found('flux1', 'FLUX.1', [has('guidance_in.in_layer.weight') ? 'guidance-distilled (dev-style)' : 'timestep-distilled (schnell-style)']);
  }
  if (has('cap_embedder.1.weight') && has('noise_refiner.0.attention.k_norm.weight')) {
    const dim = shape('cap_embedder.1.weight')?.[0];
    return dim === 3840 ? found('z-image', 'Z-Image') : found('lumina2', 'Lumina 2', dim ? [`width ${dim}`] : []);
  }
  if (has('caption_projection.0.linear.weight')) return found('hidream', 'HiDream-I1');
  if (has('txt_norm.weight') && has('img_in.weight')) return found('qwen-image', 'Qwen-Image');
  if (has('double_layers.0.attn.w1q.weight')) return found('auraflow', 'AuraFlow');
  if (has('mlp_t5.0.weight')) return found('hunyuan-dit', 'Hunyuan-DiT');
  if (has('t_block.1.weight')) return found('pixart', 'PixArt');
  if (has('clf.1.weight')) return found('stable-cascade', 'Stable Cascade');
  return undefined;
}

/** The text encoders a single file carries: CLIP (SD 1.x), OpenCLIP (SD 2.x), both (SDXL), OpenCLIP bigG alone in SGM's conditioner (the SDXL refiner). */
type TextEncoderKind = 'clip' | 'openclip' | 'clip+openclip' | 'openclip-refiner';

/** SD 1.x / 2.x / XL UNets in the LDM layout (`input_blocks.*`) or the diffusers layout (`down_blocks.*`). */
function detectUNet(tensors: Tensors, prefix: string, diffusers: boolean, textEncoder: TextEncoderKind | undefined): Detected | undefined {
  const conv = shapeOf(tensors, `${prefix}${diffusers ? 'conv_in.weight' : 'input_blocks.0.0.weight'}`);
  if (!conv || conv.length !== 4) return undefined;
  const [modelChannels, inChannels] = conv;
  const context = crossAttentionWidth(tensors, prefix);
  const adm = shapeOf(tensors, `${prefix}${diffusers ? 'add_embedding.linear_1.weight' : 'label_emb.0.0.weight'}`)?.[1];
  const details = [`UNet input channels ${inChannels}`, `model channels ${modelChannels}`];
  if (context !== undefined) details.push(`cross-attention width ${context}`);
  const variant = inChannels === 9 ? ' (inpainting)' : inChannels === 8 ? ' (instruct-pix2pix)' : '';
  const unet = (family: CheckpointFamily, label: string): Detected => ({ family, label: `${label}${variant}`, unetFamily: true, details });
  // SDXL base: add_embedding of 2816 (1280 pooled + 6 × 256 time ids), or any width beside SDXL's two encoders.
  if (adm === 2816 || (adm !== undefined && adm !== 2560 && textEncoder === 'clip+openclip')) return unet('sdxl', 'Stable Diffusion XL');
  // The refiner: add_embedding of 2560 (1280 pooled + 5 × 256 time ids), or any width beside bigG alone as SGM's first embedder.
  if (adm === 2560 || (adm !== undefined && textEncoder === 'openclip-refiner')) return unet('sdxl-refiner', 'Stable Diffusion XL refiner');
  // The text encoder a single file carries tells SD 1.x (OpenAI CLIP) from 2.x (OpenCLIP); a bare UNet
  // goes by its cross-attention width (768 and 1024).
  if (textEncoder === 'clip' || (textEncoder === undefined && context === 768)) return unet('sd1', 'Stable Diffusion 1.x');
  if (textEncoder === 'openclip' || context === 1024) {
    details.push('ε- or v-prediction: shapes cannot tell; an A1111-style <name>.yaml beside the file says, else the spread of one norm bias decides (ComfyUI\'s rule)');
    return unet('sd2', 'Stable Diffusion 2.x');
  }
  return { family: 'unknown', label: 'an unrecognised UNet', unetFamily: true, details };
}

/** Describes a weights file from its header. */
export function describeCheckpoint(header: CheckpointHeader): CheckpointDescription {
  const { tensors } = header;
  const names = [...tensors.keys()];
  const common = { parameters: parameters(tensors), dtypes: dtypes(tensors) };
  const components: CheckpointDescription['components'][number][] = [];
  if (names.some((n) => n.startsWith('cond_stage_model.') || n.startsWith('conditioner.embedders.0.'))) components.push('text encoder');
  if (names.some((n) => n.startsWith('conditioner.embedders.1.'))) components.push('second text encoder');
  if (names.some((n) => n.startsWith('first_stage_model.'))) components.push('VAE');

  if (names.some((n) => /^lora_(unet|te\d?)_/.test(n) || /\.lora_(up|down|A|B)\./.test(n))) {
    return { family: 'lora', label: 'a LoRA (not a checkpoint: list it under loras:)', layout: 'other', unetFamily: false, details: [], components: [], ...common };
  }
  const prefix = denoiserPrefix(names);
  const layout: CheckpointDescription['layout'] = prefix === 'model.diffusion_model.' && components.length > 0 ? 'ldm' : 'diffusion-model';
  const has = (key: string) => tensors.has(`${prefix}${key}`);
  const transformer = detectTransformer(has, (key) => shapeOf(tensors, `${prefix}${key}`));
  if (transformer) return { ...transformer, layout, components, ...common };
  // SGM's conditioner: CLIP ViT-L (embedders.0.transformer) and OpenCLIP bigG (embedders.1.model): SDXL base.
  const sdxlConditioner = tensors.has('conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight') && tensors.has('conditioner.embedders.1.model.token_embedding.weight');
  // The SDXL refiner's conditioner: OpenCLIP bigG alone, as the first embedder (diffusers' CHECKPOINT_KEY_NAMES
  // tell the refiner by conditioner.embedders.0.model.*, the base by conditioner.embedders.1.model.*).
  const refinerConditioner = tensors.has('conditioner.embedders.0.model.token_embedding.weight') && !names.some((n) => n.startsWith('conditioner.embedders.1.'));
  const textEncoder: TextEncoderKind | undefined = sdxlConditioner
    ? 'clip+openclip'
    : refinerConditioner
      ? 'openclip-refiner'
      : names.some((n) => n.startsWith('cond_stage_model.transformer.'))
      ? 'clip'
      : names.some((n) => n.startsWith('cond_stage_model.model.'))
        ? 'openclip'
        : undefined;
  const ldm = detectUNet(tensors, prefix, false, textEncoder);
  if (ldm) return { ...ldm, layout, components, ...common };
  const diffusers = detectUNet(tensors, '', true, undefined);
  if (diffusers) return { ...diffusers, layout: 'diffusers', components, ...common };
  if (names.some((n) => n.startsWith('decoder.conv_in.') || n.startsWith('encoder.conv_in.'))) {
    return { family: 'vae', label: 'a VAE (not a full checkpoint)', layout: 'other', unetFamily: false, details: [], components: ['VAE'], ...common };
  }
  const sample = names.slice(0, 5).join(', ');
  return { family: 'unknown', label: 'an unrecognised model', layout: 'other', unetFamily: false, details: [`first keys: ${sample}`], components, ...common };
}

/** One line for errors and `inspect`: `Stable Diffusion 1.x single-file checkpoint (LDM layout; UNet, text encoder, VAE; 1.07 B parameters, F16)`. */
export function checkpointSummary(d: CheckpointDescription): string {
  const what = d.layout === 'ldm' ? 'single-file checkpoint' : d.layout === 'diffusers' ? 'diffusers UNet file' : d.layout === 'diffusion-model' ? 'diffusion model (denoiser only)' : 'file';
  const parts = [d.components.length ? `with ${d.components.join(', ')}` : '', `${(d.parameters / 1e9).toFixed(2)} B parameters`, d.dtypes.slice(0, 2).join('/')].filter(Boolean);
  return `${d.label} ${what} (${parts.join('; ')})`;
}
