"""Stable Diffusion 1.x tensor names: diffusers / transformers names <-> the original LDM (CompVis) names
of a single-file checkpoint such as v1-5-pruned-emaonly.safetensors.

The naming facts (which diffusers prefix is which LDM prefix, which weights change shape) are those of
the published reference conversions: diffusers' scripts/convert_diffusers_to_original_stable_diffusion.py
(diffusers -> LDM) and src/diffusers/loaders/single_file_utils.py (LDM -> diffusers); the expected key
counts and shapes are those of a real SD 1.5 checkpoint. The code is our own. Two independent
implementations live here on purpose: `to_ldm` builds names from the diffusers structure (the writer),
`from_ldm` parses LDM names back (the checker), so a mistake in one is caught by the other.

Three prefixes: `model.diffusion_model.` (UNet), `first_stage_model.` (VAE: encoder, decoder, quant_conv,
post_quant_conv), `cond_stage_model.transformer.` (CLIP ViT-L/14 text model, transformers' names
unchanged below the prefix, `text_model.embeddings.position_ids` [1, 77] int64 included).

Reshape rules: only the VAE mid-block attention differs. LDM's AttnBlock uses 1x1 convolutions, so
`mid.attn_1.{q,k,v,proj_out}.weight` are [C, C, 1, 1] where diffusers' Attention has Linear [C, C]
(`to_q`, `to_k`, `to_v`, `to_out.0`). SD 1.x UNet transformers keep 1x1-conv `proj_in`/`proj_out`
([C, C, 1, 1]) in both layouts (use_linear_projection false); SD 2.x stores them as Linear [C, C].
"""
from __future__ import annotations

import re

UNET = 'model.diffusion_model.'
VAE = 'first_stage_model.'
CLIP = 'cond_stage_model.transformer.'

# ResnetBlock2D (diffusers) -> ResBlock (LDM UNet): in_layers = [GroupNorm, SiLU, Conv], emb_layers =
# [SiLU, Linear], out_layers = [GroupNorm, SiLU, Dropout, Conv].
UNET_RESNET = {'norm1': 'in_layers.0', 'conv1': 'in_layers.2', 'time_emb_proj': 'emb_layers.1',
               'norm2': 'out_layers.0', 'conv2': 'out_layers.3', 'conv_shortcut': 'skip_connection'}
# LDM VAE ResnetBlock names match diffusers' except the shortcut.
VAE_RESNET = {'norm1': 'norm1', 'conv1': 'conv1', 'norm2': 'norm2', 'conv2': 'conv2', 'conv_shortcut': 'nin_shortcut'}
VAE_ATTENTION = {'group_norm': 'norm', 'to_q': 'q', 'to_k': 'k', 'to_v': 'v', 'to_out.0': 'proj_out'}
# Older diffusers (AttentionBlock, before diffusers 0.15) and many hub uploads of SD 1.x VAEs name the same
# four projections query / key / value / proj_attn (all Linear [C, C]).
VAE_ATTENTION_LEGACY = {'to_q': 'query', 'to_k': 'key', 'to_v': 'value', 'to_out.0': 'proj_attn'}

# The LDMs' DDPM noise-schedule buffers (LatentDiffusion.register_schedule), [1000] float32 each, present
# in CompVis / RunwayML checkpoints and absent from many merged ones.
SCHEDULE_BUFFERS = ['alphas_cumprod', 'alphas_cumprod_prev', 'betas', 'log_one_minus_alphas_cumprod',
                    'posterior_log_variance_clipped', 'posterior_mean_coef1', 'posterior_mean_coef2',
                    'posterior_variance', 'sqrt_alphas_cumprod', 'sqrt_one_minus_alphas_cumprod',
                    'sqrt_recip_alphas_cumprod', 'sqrt_recipm1_alphas_cumprod']

# A real SD 1.5 checkpoint (v1-5-pruned-emaonly): tensors per prefix and a few characteristic shapes.
FULL_COUNTS = {UNET: 686, VAE: 248, CLIP: 197}
FULL_SHAPES = {
    UNET + 'time_embed.0.weight': [1280, 320],
    UNET + 'time_embed.2.weight': [1280, 1280],
    UNET + 'input_blocks.0.0.weight': [320, 4, 3, 3],
    UNET + 'input_blocks.1.0.emb_layers.1.weight': [320, 1280],
    UNET + 'input_blocks.1.1.proj_in.weight': [320, 320, 1, 1],
    UNET + 'input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight': [320, 768],
    UNET + 'input_blocks.1.1.transformer_blocks.0.ff.net.0.proj.weight': [2560, 320],
    UNET + 'input_blocks.3.0.op.weight': [320, 320, 3, 3],
    UNET + 'input_blocks.4.0.skip_connection.weight': [640, 320, 1, 1],
    UNET + 'middle_block.1.proj_out.weight': [1280, 1280, 1, 1],
    UNET + 'output_blocks.0.0.skip_connection.weight': [1280, 2560, 1, 1],
    UNET + 'output_blocks.2.1.conv.weight': [1280, 1280, 3, 3],
    UNET + 'output_blocks.5.2.conv.weight': [1280, 1280, 3, 3],
    UNET + 'output_blocks.11.0.skip_connection.weight': [320, 640, 1, 1],
    UNET + 'out.0.weight': [320],
    UNET + 'out.2.weight': [4, 320, 3, 3],
    VAE + 'encoder.conv_out.weight': [8, 512, 3, 3],
    VAE + 'encoder.down.0.downsample.conv.weight': [128, 128, 3, 3],
    VAE + 'encoder.mid.attn_1.q.weight': [512, 512, 1, 1],
    VAE + 'decoder.mid.attn_1.proj_out.weight': [512, 512, 1, 1],
    VAE + 'decoder.up.0.block.0.nin_shortcut.weight': [128, 256, 1, 1],
    VAE + 'decoder.up.3.upsample.conv.weight': [512, 512, 3, 3],
    VAE + 'decoder.conv_out.weight': [3, 128, 3, 3],
    VAE + 'quant_conv.weight': [8, 8, 1, 1],
    VAE + 'post_quant_conv.weight': [4, 4, 1, 1],
    CLIP + 'text_model.embeddings.token_embedding.weight': [49408, 768],
    CLIP + 'text_model.embeddings.position_embedding.weight': [77, 768],
    CLIP + 'text_model.embeddings.position_ids': [1, 77],
    CLIP + 'text_model.encoder.layers.11.mlp.fc1.weight': [3072, 768],
    CLIP + 'text_model.final_layer_norm.weight': [768],
}


class Structure:
    """What the name mapping depends on: block counts, resnets per block, which UNet blocks have
    attention. SD 1.x: four blocks, two resnets per down block (three per up block), cross-attention in
    down blocks 0-2 and up blocks 1-3."""

    def __init__(self, blocks: int = 4, layers: int = 2, down_attention=(True, True, True, False),
                 up_attention=(False, True, True, True), vae_blocks: int = 4, vae_layers: int = 2):
        self.blocks, self.layers = blocks, layers
        self.down_attention, self.up_attention = tuple(down_attention), tuple(up_attention)
        self.vae_blocks, self.vae_layers = vae_blocks, vae_layers


SD1 = Structure()


# ------------------------------------------------------------------------------------------ diffusers -> LDM

def _rename_head(rest: str, table: dict[str, str]) -> str:
    """Renames the leading module of `rest` (e.g. 'conv1.weight' -> 'in_layers.2.weight')."""
    for old, new in table.items():
        if rest.startswith(old + '.'):
            return new + rest[len(old):]
    raise KeyError(rest)


def unet_to_ldm(name: str, s: Structure = SD1) -> str:
    """A diffusers UNet2DConditionModel parameter name -> its LDM name (without the prefix)."""
    fixed = {'time_embedding.linear_1.': 'time_embed.0.', 'time_embedding.linear_2.': 'time_embed.2.',
             'conv_in.': 'input_blocks.0.0.', 'conv_norm_out.': 'out.0.', 'conv_out.': 'out.2.'}
    for old, new in fixed.items():
        if name.startswith(old):
            return new + name[len(old):]
    per = s.layers + 1  # LDM counts the downsampler (input side) / the extra resnet (output side) as a row
    m = re.fullmatch(r'down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)\.(.+)', name)
    if m:
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        if kind == 'resnets':
            return f'input_blocks.{per * i + j + 1}.0.{_rename_head(rest, UNET_RESNET)}'
        if kind == 'attentions':
            return f'input_blocks.{per * i + j + 1}.1.{rest}'
        assert rest.startswith('conv.'), name
        return f'input_blocks.{per * (i + 1)}.0.op.{rest[len("conv."):]}'
    m = re.fullmatch(r'mid_block\.(resnets|attentions)\.(\d+)\.(.+)', name)
    if m:
        kind, j, rest = m[1], int(m[2]), m[3]
        if kind == 'resnets':
            return f'middle_block.{2 * j}.{_rename_head(rest, UNET_RESNET)}'
        return f'middle_block.1.{rest}'
    m = re.fullmatch(r'up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)\.(.+)', name)
    if m:
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        if kind == 'resnets':
            return f'output_blocks.{per * i + j}.0.{_rename_head(rest, UNET_RESNET)}'
        if kind == 'attentions':
            return f'output_blocks.{per * i + j}.1.{rest}'
        # Upsample sits after the last resnet (and its attention, when the block has one); `conv` is kept.
        return f'output_blocks.{per * i + s.layers}.{2 if s.up_attention[i] else 1}.{rest}'
    raise KeyError(f'no LDM name for UNet parameter {name}')


def vae_to_ldm(name: str, s: Structure = SD1) -> str:
    """A diffusers AutoencoderKL parameter name -> its LDM name (without the prefix)."""
    if name.split('.')[0] in ('quant_conv', 'post_quant_conv'):
        return name
    part, rest = name.split('.', 1)
    assert part in ('encoder', 'decoder'), name
    for old, new in (('conv_in.', 'conv_in.'), ('conv_out.', 'conv_out.'), ('conv_norm_out.', 'norm_out.')):
        if rest.startswith(old):
            return f'{part}.{new}{rest[len(old):]}'
    m = re.fullmatch(r'down_blocks\.(\d+)\.(resnets|downsamplers)\.(\d+)\.(.+)', rest)
    if m and part == 'encoder':
        i, kind, j, tail = int(m[1]), m[2], int(m[3]), m[4]
        if kind == 'resnets':
            return f'encoder.down.{i}.block.{j}.{_rename_head(tail, VAE_RESNET)}'
        return f'encoder.down.{i}.downsample.{tail}'
    m = re.fullmatch(r'up_blocks\.(\d+)\.(resnets|upsamplers)\.(\d+)\.(.+)', rest)
    if m and part == 'decoder':
        # The decoder's blocks are numbered from the output end in LDM, from the input end in diffusers.
        i, kind, j, tail = s.vae_blocks - 1 - int(m[1]), m[2], int(m[3]), m[4]
        if kind == 'resnets':
            return f'decoder.up.{i}.block.{j}.{_rename_head(tail, VAE_RESNET)}'
        return f'decoder.up.{i}.upsample.{tail}'
    m = re.fullmatch(r'mid_block\.resnets\.(\d+)\.(.+)', rest)
    if m:
        return f'{part}.mid.block_{int(m[1]) + 1}.{_rename_head(m[2], VAE_RESNET)}'
    m = re.fullmatch(r'mid_block\.attentions\.0\.(.+)', rest)
    if m:
        return f'{part}.mid.attn_1.{_rename_head(m[1], VAE_ATTENTION)}'
    raise KeyError(f'no LDM name for VAE parameter {name}')


def vae_weight_to_ldm(ldm_name: str, shape: list[int]) -> list[int]:
    """The LDM shape of a VAE tensor: the mid-block attention projections become 1x1 convolutions."""
    if re.search(r'\.mid\.attn_1\.(q|k|v|proj_out)\.weight$', ldm_name):
        assert len(shape) == 2, (ldm_name, shape)
        return [*shape, 1, 1]
    return list(shape)


def to_ldm(component: str, name: str, s: Structure = SD1) -> str:
    """Full LDM key of a parameter of `component` ('unet', 'vae' or 'text_encoder')."""
    if component == 'unet':
        return UNET + unet_to_ldm(name, s)
    if component == 'vae':
        return VAE + vae_to_ldm(name, s)
    if component == 'text_encoder':
        return CLIP + name
    raise KeyError(component)


# ------------------------------------------------------------------------------------------ LDM -> diffusers

def from_ldm(key: str, s: Structure = SD1) -> tuple[str, str] | None:
    """An LDM key -> (component, diffusers name); None for the schedule buffers. Raises KeyError for a key
    that is not part of an SD 1.x checkpoint."""
    if key in SCHEDULE_BUFFERS:
        return None
    if key.startswith(CLIP):
        return 'text_encoder', key[len(CLIP):]
    if key.startswith(UNET):
        return 'unet', _unet_from_ldm(key[len(UNET):], s)
    if key.startswith(VAE):
        return 'vae', _vae_from_ldm(key[len(VAE):], s)
    raise KeyError(f'{key}: not an SD 1.x checkpoint key')


def _inverse(table: dict[str, str]) -> dict[str, str]:
    return {v: k for k, v in table.items()}


def _unet_from_ldm(name: str, s: Structure) -> str:
    fixed = {'time_embed.0.': 'time_embedding.linear_1.', 'time_embed.2.': 'time_embedding.linear_2.',
             'input_blocks.0.0.': 'conv_in.', 'out.0.': 'conv_norm_out.', 'out.2.': 'conv_out.'}
    for old, new in fixed.items():
        if name.startswith(old):
            return new + name[len(old):]
    resnet = _inverse(UNET_RESNET)
    per = s.layers + 1
    m = re.fullmatch(r'input_blocks\.(\d+)\.(\d+)\.(.+)', name)
    if m:
        row, col, rest = int(m[1]), int(m[2]), m[3]
        block, j = divmod(row - 1, per)
        if j == s.layers:  # the row after a block's resnets holds only its downsampler
            assert col == 0 and rest.startswith('op.'), name
            return f'down_blocks.{block}.downsamplers.0.conv.{rest[len("op."):]}'
        if col == 0:
            return f'down_blocks.{block}.resnets.{j}.{_rename_head(rest, resnet)}'
        assert col == 1 and s.down_attention[block], name
        return f'down_blocks.{block}.attentions.{j}.{rest}'
    m = re.fullmatch(r'middle_block\.(\d+)\.(.+)', name)
    if m:
        col, rest = int(m[1]), m[2]
        if col == 1:
            return f'mid_block.attentions.0.{rest}'
        return f'mid_block.resnets.{col // 2}.{_rename_head(rest, resnet)}'
    m = re.fullmatch(r'output_blocks\.(\d+)\.(\d+)\.(.+)', name)
    if m:
        row, col, rest = int(m[1]), int(m[2]), m[3]
        block, j = divmod(row, per)
        if col == 0:
            return f'up_blocks.{block}.resnets.{j}.{_rename_head(rest, resnet)}'
        if col == 1 and s.up_attention[block]:
            return f'up_blocks.{block}.attentions.{j}.{rest}'
        # The upsampler follows the last resnet, and that resnet's attention when the block has one.
        assert j == s.layers and col == (2 if s.up_attention[block] else 1) and rest.startswith('conv.'), name
        return f'up_blocks.{block}.upsamplers.0.{rest}'
    raise KeyError(f'model.diffusion_model.{name}: not an SD 1.x UNet key')


def _vae_from_ldm(name: str, s: Structure) -> str:
    if name.split('.')[0] in ('quant_conv', 'post_quant_conv'):
        return name
    part, rest = name.split('.', 1)
    for old, new in (('conv_in.', 'conv_in.'), ('conv_out.', 'conv_out.'), ('norm_out.', 'conv_norm_out.')):
        if rest.startswith(old):
            return f'{part}.{new}{rest[len(old):]}'
    resnet = _inverse(VAE_RESNET)
    m = re.fullmatch(r'(down|up)\.(\d+)\.(block\.(\d+)|downsample|upsample)\.(.+)', rest)
    if m:
        which, i, tail = m[1], int(m[2]), m[5]
        block = i if which == 'down' else s.vae_blocks - 1 - i
        prefix = f'{part}.{which}_blocks.{block}'
        if m[4] is not None:
            return f'{prefix}.resnets.{int(m[4])}.{_rename_head(tail, resnet)}'
        return f'{prefix}.{m[3]}rs.0.{tail}'  # downsample -> downsamplers.0, upsample -> upsamplers.0
    m = re.fullmatch(r'mid\.block_(\d+)\.(.+)', rest)
    if m:
        return f'{part}.mid_block.resnets.{int(m[1]) - 1}.{_rename_head(m[2], resnet)}'
    m = re.fullmatch(r'mid\.attn_1\.(.+)', rest)
    if m:
        return f'{part}.mid_block.attentions.0.{_rename_head(m[1], _inverse(VAE_ATTENTION))}'
    raise KeyError(f'first_stage_model.{name}: not an SD 1.x VAE key')


def weight_from_ldm(key: str, shape: list[int]) -> list[int]:
    """The diffusers shape of an LDM tensor: [C, C, 1, 1] -> [C, C] for the VAE attention projections."""
    if key.startswith(VAE) and re.search(r'\.mid\.attn_1\.(q|k|v|proj_out)\.weight$', key):
        assert len(shape) == 4 and shape[2:] == [1, 1], (key, shape)
        return shape[:2]
    return list(shape)
