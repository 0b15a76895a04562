// kohya-ss names SDXL UNet LoRA modules after the original SGM UNet (sd-scripts trains SDXL on its own copy
// of it): `lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q`, `lora_unet_middle_block_1_…`,
// `lora_unet_output_blocks_0_1_…`, and for LoCon `…_input_blocks_1_0_in_layers_2`, `…_input_blocks_3_0_op`,
// `…_output_blocks_2_2_conv`, `…_time_embed_0`, `…_label_emb_0_0`. The graphs here carry diffusers' module
// paths, so such a key is looked up under its diffusers name, by the correspondence diffusers applies
// when it loads these files (lora_conversion_utils._maybe_map_sgm_blocks_to_diffusers): with L resnets
// per down block, input block i ≥ 1 is down block ⌊(i − 1)/(L + 1)⌋, layer (i − 1) mod (L + 1) (part 0 a
// resnet, part 1 a transformer, `op` the downsampler); output block i is up block ⌊i/(L + 1)⌋, layer
// i mod (L + 1) (part 0 a resnet, part 1 a transformer, `conv` in part 1 or 2 the upsampler); middle
// block parts 0, 1, 2 are resnet 0, the transformer, resnet 1. SD 1.x kohya files use diffusers' names
// already and are left alone.

/** SDXL's layers_per_block (every SGM-named UNet LoRA in use is SDXL's). */
export const SDXL_LAYERS_PER_BLOCK = 2;

const RESNET: Readonly<Record<string, string>> = {
  in_layers_0: 'norm1',
  in_layers_2: 'conv1',
  emb_layers_1: 'time_emb_proj',
  out_layers_0: 'norm2',
  out_layers_3: 'conv2',
  skip_connection: 'conv_shortcut',
};

function resnet(prefix: string, rest: string): string | undefined {
  const name = RESNET[rest];
  return name === undefined ? undefined : `${prefix}_${name}`;
}

/** The diffusers module key (underscore form) of an SGM-named UNet LoRA key, or undefined when it is not one. */
export function sgmToDiffusersLoraKey(key: string, layersPerBlock = SDXL_LAYERS_PER_BLOCK): string | undefined {
  const per = layersPerBlock + 1;
  const fixed: Readonly<Record<string, string>> = {
    input_blocks_0_0: 'conv_in',
    time_embed_0: 'time_embedding_linear_1',
    time_embed_2: 'time_embedding_linear_2',
    label_emb_0_0: 'add_embedding_linear_1',
    label_emb_0_2: 'add_embedding_linear_2',
    out_2: 'conv_out',
  };
  if (fixed[key]) return fixed[key];
  let m = /^input_blocks_(\d+)_([01])_(.+)$/.exec(key);
  if (m && Number(m[1]) > 0) {
    const i = Number(m[1]) - 1;
    const [block, layer] = [Math.floor(i / per), i % per];
    if (m[2] === '1') return `down_blocks_${block}_attentions_${layer}_${m[3]}`;
    if (m[3] === 'op') return `down_blocks_${block}_downsamplers_0_conv`;
    return resnet(`down_blocks_${block}_resnets_${layer}`, m[3]);
  }
  m = /^middle_block_([012])_(.+)$/.exec(key);
  if (m) return m[1] === '1' ? `mid_block_attentions_0_${m[2]}` : resnet(`mid_block_resnets_${m[1] === '0' ? 0 : 1}`, m[2]);
  m = /^output_blocks_(\d+)_([012])_(.+)$/.exec(key);
  if (m) {
    const i = Number(m[1]);
    const [block, layer] = [Math.floor(i / per), i % per];
    if (m[2] !== '0' && m[3] === 'conv') return `up_blocks_${block}_upsamplers_0_conv`;
    if (m[2] === '1') return `up_blocks_${block}_attentions_${layer}_${m[3]}`;
    if (m[2] === '0') return resnet(`up_blocks_${block}_resnets_${layer}`, m[3]);
  }
  return undefined;
}
