// The UNet of a single-file LDM checkpoint (`model.diffusion_model.*`) seen under diffusers'
// UNet2DConditionModel names, so unetGraph.ts builds from it unchanged. The correspondence is the one
// diffusers' single-file conversion applies (convert_ldm_unet_checkpoint), with L = layers_per_block:
//   time_embed.{0,2}.*               ↔ time_embedding.linear_{1,2}.*
//   input_blocks.0.0.*               ↔ conv_in.*
//   input_blocks.{i}.0.op.*          ↔ down_blocks.{b}.downsamplers.0.conv.*   b = (i-1) / (L+1),
//   input_blocks.{i}.0.*             ↔ down_blocks.{b}.resnets.{j}.*           j = (i-1) mod (L+1)
//   input_blocks.{i}.1.*             ↔ down_blocks.{b}.attentions.{j}.*
//   middle_block.{0,1,2}.*           ↔ mid_block.resnets.0, mid_block.attentions.0, mid_block.resnets.1
//   output_blocks.{i}.0.*            ↔ up_blocks.{b}.resnets.{j}.*             b = i / (L+1), j = i mod (L+1)
//   output_blocks.{i}.{1,2}.conv.*   ↔ up_blocks.{b}.upsamplers.0.conv.*       (1 without attention, 2 with)
//   output_blocks.{i}.1.*            ↔ up_blocks.{b}.attentions.{j}.*
//   out.{0,2}.*                      ↔ conv_norm_out.*, conv_out.*
//   label_emb.0.{0,2}.*              ↔ add_embedding.linear_{1,2}.*             (SDXL's text_time embedding)
// Inside resnets: in_layers.{0,2} ↔ norm1, conv1; emb_layers.1 ↔ time_emb_proj; out_layers.{0,3} ↔ norm2,
// conv2; skip_connection ↔ conv_shortcut. Inside attentions (SpatialTransformer) the names are diffusers'
// already (norm, proj_in, transformer_blocks.N.{norm1,attn1.to_q,…,ff.net.0.proj,ff.net.2}, proj_out), and
// so are the shapes: SD 1.x stores proj_in/proj_out as 1×1 convolutions, SD 2.x as linears, as diffusers
// does for use_linear_projection false / true.
import { renamedWeights, type WeightSource } from './weightSource';

/** The prefix of the UNet in a full LDM checkpoint. */
export const LDM_UNET_PREFIX = 'model.diffusion_model.';

const RESNET_PARTS: Readonly<Record<string, string>> = {
  'in_layers.0': 'norm1',
  'in_layers.2': 'conv1',
  'emb_layers.1': 'time_emb_proj',
  'out_layers.0': 'norm2',
  'out_layers.3': 'conv2',
  skip_connection: 'conv_shortcut',
};

function resnetRest(rest: string): string | undefined {
  const m = /^(in_layers\.[02]|emb_layers\.1|out_layers\.[03]|skip_connection)\.(weight|bias)$/.exec(rest);
  return m ? `${RESNET_PARTS[m[1]]}.${m[2]}` : undefined;
}

/** The layers_per_block of an LDM UNet: the first downsampler (`input_blocks.{L+1}.0.op`) tells it. */
export function ldmLayersPerBlock(keys: readonly string[]): number | undefined {
  let first: number | undefined;
  for (const k of keys) {
    const m = /^input_blocks\.(\d+)\.0\.op\.weight$/.exec(k);
    if (m) first = Math.min(first ?? Infinity, Number(m[1]));
  }
  return first === undefined ? undefined : first - 1;
}

/** The diffusers name of an LDM UNet key (prefix removed), or undefined for keys that are not UNet weights. */
export function diffusersUnetName(ldm: string, layersPerBlock: number): string | undefined {
  const per = layersPerBlock + 1;
  let m = /^time_embed\.([02])\.(weight|bias)$/.exec(ldm);
  if (m) return `time_embedding.linear_${m[1] === '0' ? 1 : 2}.${m[2]}`;
  m = /^label_emb\.0\.([02])\.(weight|bias)$/.exec(ldm);
  if (m) return `add_embedding.linear_${m[1] === '0' ? 1 : 2}.${m[2]}`;
  m = /^out\.([02])\.(weight|bias)$/.exec(ldm);
  if (m) return `${m[1] === '0' ? 'conv_norm_out' : 'conv_out'}.${m[2]}`;
  m = /^input_blocks\.0\.0\.(weight|bias)$/.exec(ldm);
  if (m) return `conv_in.${m[1]}`;
  m = /^input_blocks\.(\d+)\.([01])\.(.+)$/.exec(ldm);
  if (m && Number(m[1]) > 0) {
    const i = Number(m[1]) - 1;
    const [block, layer] = [Math.floor(i / per), i % per];
    if (m[2] === '1') return `down_blocks.${block}.attentions.${layer}.${m[3]}`;
    const op = /^op\.(weight|bias)$/.exec(m[3]);
    if (op) return `down_blocks.${block}.downsamplers.0.conv.${op[1]}`;
    const rest = resnetRest(m[3]);
    return rest && `down_blocks.${block}.resnets.${layer}.${rest}`;
  }
  m = /^middle_block\.([012])\.(.+)$/.exec(ldm);
  if (m) {
    if (m[1] === '1') return `mid_block.attentions.0.${m[2]}`;
    const rest = resnetRest(m[2]);
    return rest && `mid_block.resnets.${m[1] === '0' ? 0 : 1}.${rest}`;
  }
  m = /^output_blocks\.(\d+)\.([012])\.(.+)$/.exec(ldm);
  if (m) {
    const i = Number(m[1]);
    const [block, layer] = [Math.floor(i / per), i % per];
    const conv = /^conv\.(weight|bias)$/.exec(m[3]);
    if (conv && m[2] !== '0') return `up_blocks.${block}.upsamplers.0.conv.${conv[1]}`;
    if (m[2] === '1') return `up_blocks.${block}.attentions.${layer}.${m[3]}`;
    if (m[2] === '0') {
      const rest = resnetRest(m[3]);
      return rest && `up_blocks.${block}.resnets.${layer}.${rest}`;
    }
  }
  return undefined;
}

/**
 * The UNet weights of an LDM checkpoint under diffusers names. `source` holds the checkpoint's keys as
 * they are; `prefix` defaults to `model.diffusion_model.` when the keys have it (else none: a bare UNet
 * state dict). `layersPerBlock` is read off the keys when not given. Keys under the prefix that have no
 * diffusers name (another architecture's parts) are offered under their own names, which no builder
 * asks for, so buildUNetGraph reports them as unused; keys outside it (EMA copies, other components)
 * are not offered.
 */
export function ldmUnetWeights(source: WeightSource, prefix?: string, layersPerBlock?: number): WeightSource {
  const all = source.names();
  const p = prefix ?? (all.some((n) => n.startsWith(`${LDM_UNET_PREFIX}input_blocks.`)) ? LDM_UNET_PREFIX : '');
  const keys = all.filter((n) => n.startsWith(p)).map((n) => n.slice(p.length));
  const layers = layersPerBlock ?? ldmLayersPerBlock(keys) ?? 2;
  const map = new Map<string, string>();
  for (const k of keys) {
    // A key without a diffusers name keeps its own, so the builder's unused-weights check names it.
    map.set(diffusersUnetName(k, layers) ?? p + k, p + k);
  }
  return renamedWeights(source, (name) => map.get(name), [...map.keys()]);
}
