// The VAE of a single-file LDM checkpoint (`first_stage_model.*`), or a standalone LDM VAE file (the same
// keys without the prefix, as `vae-ft-mse-840000-ema-pruned.safetensors`), seen under diffusers'
// AutoencoderKL names so vaeGraph.ts builds from it unchanged. The correspondence is the one diffusers'
// single-file conversion applies (convert_ldm_vae_checkpoint):
//   encoder.down.{i}.block.{j}.*         ↔ encoder.down_blocks.{i}.resnets.{j}.*
//   encoder.down.{i}.downsample.conv.*   ↔ encoder.down_blocks.{i}.downsamplers.0.conv.*
//   decoder.up.{n-1-i}.block.{j}.*       ↔ decoder.up_blocks.{i}.resnets.{j}.*   (LDM counts up blocks
//   decoder.up.{n-1-i}.upsample.conv.*   ↔ decoder.up_blocks.{i}.upsamplers.0.conv.*  from the bottom)
//   {encoder,decoder}.mid.block_{1,2}.*  ↔ {…}.mid_block.resnets.{0,1}.*
//   {…}.mid.attn_1.{norm,q,k,v,proj_out} ↔ {…}.mid_block.attentions.0.{group_norm,to_q,to_k,to_v,to_out.0}
//   {…}.norm_out.*                       ↔ {…}.conv_norm_out.*
//   nin_shortcut                         ↔ conv_shortcut (inside resnets)
//   conv_in, conv_out, quant_conv, post_quant_conv and the resnets' norm1/conv1/norm2/conv2 keep their names.
// LDM's attention projections are 1×1 convolutions, [C, C, 1, 1]; the view gives them as linears [C, C].
import { renamedWeights, type WeightSource } from './weightSource';

/** The prefix of the VAE in a full LDM checkpoint. */
export const LDM_VAE_PREFIX = 'first_stage_model.';

const ATTENTION_PARTS: Readonly<Record<string, string>> = { norm: 'group_norm', q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0' };

function resnetRest(rest: string): string {
  return rest.startsWith('nin_shortcut.') ? `conv_shortcut.${rest.slice('nin_shortcut.'.length)}` : rest;
}

/** The diffusers name of an LDM VAE key (prefix removed), given the decoder's up-block count; undefined for keys that are not VAE weights. */
export function diffusersVaeName(ldm: string, upBlocks: number): string | undefined {
  let m = /^(encoder|decoder)\.norm_out\.(weight|bias)$/.exec(ldm);
  if (m) return `${m[1]}.conv_norm_out.${m[2]}`;
  m = /^(encoder|decoder)\.mid\.block_([12])\.(.+)$/.exec(ldm);
  if (m) return `${m[1]}.mid_block.resnets.${Number(m[2]) - 1}.${resnetRest(m[3])}`;
  m = /^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(weight|bias)$/.exec(ldm);
  if (m) return `${m[1]}.mid_block.attentions.0.${ATTENTION_PARTS[m[2]]}.${m[3]}`;
  m = /^encoder\.down\.(\d+)\.block\.(\d+)\.(.+)$/.exec(ldm);
  if (m) return `encoder.down_blocks.${m[1]}.resnets.${m[2]}.${resnetRest(m[3])}`;
  m = /^encoder\.down\.(\d+)\.downsample\.conv\.(weight|bias)$/.exec(ldm);
  if (m) return `encoder.down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}`;
  m = /^decoder\.up\.(\d+)\.block\.(\d+)\.(.+)$/.exec(ldm);
  if (m) return Number(m[1]) < upBlocks ? `decoder.up_blocks.${upBlocks - 1 - Number(m[1])}.resnets.${m[2]}.${resnetRest(m[3])}` : undefined;
  m = /^decoder\.up\.(\d+)\.upsample\.conv\.(weight|bias)$/.exec(ldm);
  if (m) return Number(m[1]) < upBlocks ? `decoder.up_blocks.${upBlocks - 1 - Number(m[1])}.upsamplers.0.conv.${m[2]}` : undefined;
  if (/^(encoder|decoder)\.conv_(in|out)\.(weight|bias)$/.test(ldm) || /^(post_)?quant_conv\.(weight|bias)$/.test(ldm)) return ldm;
  return undefined;
}

/**
 * The VAE weights of an LDM checkpoint under diffusers names. `source` holds the checkpoint's keys as
 * they are: with `first_stage_model.` (a full checkpoint) or without (a VAE file); the prefix is found
 * from the keys when not given.
 */
export function ldmVaeWeights(source: WeightSource, prefix?: string): WeightSource {
  const all = source.names();
  const p = prefix ?? (all.some((n) => n.startsWith(`${LDM_VAE_PREFIX}decoder.`)) ? LDM_VAE_PREFIX : '');
  const keys = all.filter((n) => n.startsWith(p)).map((n) => n.slice(p.length));
  let upBlocks = 0;
  for (const k of keys) {
    const m = /^decoder\.up\.(\d+)\./.exec(k);
    if (m) upBlocks = Math.max(upBlocks, Number(m[1]) + 1);
  }
  const map = new Map<string, string>();
  for (const k of keys) {
    const name = diffusersVaeName(k, upBlocks);
    if (name !== undefined) map.set(name, p + k);
  }
  return renamedWeights(
    source,
    (name) => map.get(name),
    [...map.keys()],
    (name, shape) => (/\.mid_block\.attentions\.0\.(to_[qkv]|to_out\.0)\.weight$/.test(name) && shape.length === 4 ? [shape[0], shape[1]] : shape),
  );
}
