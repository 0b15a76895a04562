#!/usr/bin/env python3
"""Writes a torch reference for the UNet graph builder (src/engine/checkpoint/convert/unetGraph.ts) on the
configuration paths the seeded SD 1.5 toy (tools/sd15_random) does not take:

- SD 2.x's transformer: proj_in / proj_out linear (use_linear_projection), heads of a fixed width (16
  here, 64 in SD 2.x) so the head count differs per block (attention_head_dim [2, 4, 4, 4]), and two
  BasicTransformerBlocks per Transformer2DModel (transformer_layers_per_block 2);
- layers_per_block 1; GroupNorm / LayerNorm weights and biases away from 1 / 0;
- the timestep embedding with flip_sin_to_cos false and freq_shift 1 ([sin, cos], frequencies
  exp(-ln(10000) i / (half - 1)), diffusers' get_timestep_embedding), fed fractional float timesteps;
- an LCM guidance input: time_embedding.cond_proj (no bias, time_cond_proj_dim 8) of timestep_cond added
  to the sinusoidal embedding before linear_1;
- ControlNet residuals added to each skip tensor (in diffusers' down_block_res_samples order: conv_in,
  then each resnet / transformer output, then each downsampler) and to the mid block's output;
- an odd latent size (9 x 13): each upsampler interpolates (nearest) to the size of the skip it meets,
  as diffusers' UNet passes upsample_size when the size is not a multiple of 2^(blocks - 1).

The modules are tools/sd15_random/sd15.py's (diffusers' names) with the transformer swapped for the linear
one and the forward restated here. Writes into --out: unet.safetensors (diffusers names, float32),
config.json (UNet2DConditionModel fields) and reference.json (inputs and out_sample as base64 little-
endian float32 with dims). Run from the repository root with Debian's torch (tools only, never at run
time):
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.reference.make_unet_variant --out DIR
Deterministic: same seed, same files.
"""
from __future__ import annotations

import argparse
import base64
import json
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from tools.sd15_random import safetensors_file as st
from tools.sd15_random import sd15
from tools.tiny_model.models import BasicTransformerBlock

HEAD_WIDTH = 16
DEPTH = 2
COND = 8


class LinearTransformer2D(nn.Module):
    """Transformer2DModel with use_linear_projection: GroupNorm, flatten, proj_in linear, blocks, proj_out linear."""

    def __init__(self, ch: int, _heads: int, context_dim: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch, eps=1e-6)
        self.proj_in = nn.Linear(ch, ch)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(ch, ch // HEAD_WIDTH, context_dim, attention=sd15.Attention, ff_mult=4) for _ in range(DEPTH)])
        self.proj_out = nn.Linear(ch, ch)

    def forward(self, x, context):
        b, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x).reshape(b, c, -1).transpose(1, 2))
        for blk in self.transformer_blocks:
            h = blk(h, context)
        return x + self.proj_out(h).transpose(1, 2).reshape(b, c, hh, ww)


def timestep_embedding(t, dim: int):
    """get_timestep_embedding with flip_sin_to_cos=False, downscale_freq_shift=1."""
    half = dim // 2
    exponent = -math.log(10000.0) * torch.arange(half, dtype=torch.float32) / (half - 1)
    emb = t.to(torch.float32)[:, None] * torch.exp(exponent)[None, :]
    return torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)


def forward(unet, sample, timestep, ctx, cond, down_residuals, mid_residual):
    t = timestep.reshape(-1).expand(sample.shape[0])
    te = unet.time_embedding
    emb = timestep_embedding(t, unet.time_proj_dim) + te.cond_proj(cond)
    emb = te.linear_2(F.silu(te.linear_1(emb)))
    h = unet.conv_in(sample)
    skips = [h]
    for blk in unet.down_blocks:
        for j, r in enumerate(blk.resnets):
            h = r(h, emb)
            if hasattr(blk, 'attentions'):
                h = blk.attentions[j](h, ctx)
            skips.append(h)
        if hasattr(blk, 'downsamplers'):
            h = blk.downsamplers[0](h)
            skips.append(h)
    assert len(skips) == len(down_residuals)
    skips = [s + r for s, r in zip(skips, down_residuals)]
    h = unet.mid_block.resnets[0](h, emb)
    h = unet.mid_block.attentions[0](h, ctx)
    h = unet.mid_block.resnets[1](h, emb) + mid_residual
    for blk in unet.up_blocks:
        for j, r in enumerate(blk.resnets):
            h = r(torch.cat([h, skips.pop()], dim=1), emb)
            if hasattr(blk, 'attentions'):
                h = blk.attentions[j](h, ctx)
        if hasattr(blk, 'upsamplers'):
            h = blk.upsamplers[0].conv(F.interpolate(h, size=tuple(skips[-1].shape[2:]), mode='nearest'))
    return unet.conv_out(F.silu(unet.conv_norm_out(h)))


def tensor_json(t: torch.Tensor) -> dict:
    data = t.detach().to(torch.float32).contiguous().numpy().astype('<f4').tobytes()
    return {'dims': list(t.shape), 'data': base64.b64encode(data).decode('ascii')}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)

    sd15.Transformer2DModel = LinearTransformer2D  # sd15.UNet2DConditionModel builds its transformers through this name
    c = dict(sd15.SCALES['toy']['unet'], layers_per_block=1)
    unet = sd15.UNet2DConditionModel(c)
    unet.time_embedding.cond_proj = nn.Linear(COND, c['block_out_channels'][0], bias=False)
    g = torch.Generator().manual_seed(a.seed)
    sd15.random_init_(unet, g)
    with torch.no_grad():
        for name, p in unet.named_parameters():
            owner = unet.get_submodule(name.rsplit('.', 1)[0])
            if isinstance(owner, (nn.GroupNorm, nn.LayerNorm)):
                p.copy_((1.0 if name.endswith('weight') else 0.0) + 0.2 * torch.randn(p.shape, generator=g))
    unet.eval()
    st.write(os.path.join(a.out, 'unet.safetensors'), [st.entry(k, v) for k, v in unet.state_dict().items()])

    ch = c['block_out_channels']
    config = {
        '_class_name': 'UNet2DConditionModel', 'in_channels': 4, 'out_channels': 4, 'block_out_channels': ch,
        'layers_per_block': 1, 'down_block_types': sd15.DOWN_BLOCK_TYPES, 'up_block_types': sd15.UP_BLOCK_TYPES,
        'mid_block_type': 'UNetMidBlock2DCrossAttn', 'cross_attention_dim': c['cross_attention_dim'],
        'attention_head_dim': [w // HEAD_WIDTH for w in ch], 'use_linear_projection': True,
        'transformer_layers_per_block': DEPTH, 'norm_num_groups': c['norm_num_groups'], 'norm_eps': 1e-5,
        'flip_sin_to_cos': False, 'freq_shift': 1, 'time_cond_proj_dim': COND, 'act_fn': 'silu'}
    with open(os.path.join(a.out, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)

    batch, size = 2, (9, 13)
    sample = torch.randn(batch, 4, *size, generator=g)
    timestep = torch.tensor([981.5, 17.25])
    ctx = torch.randn(batch, 77, c['cross_attention_dim'], generator=g)
    cond = torch.randn(batch, COND, generator=g)
    # The skip tensors' shapes: conv_in, then per level its resnets and (but the last) its downsampler.
    shapes, (h, w) = [(ch[0], *size)], size
    for i, width in enumerate(ch):
        shapes += [(width, h, w)] * c['layers_per_block']
        if i < len(ch) - 1:
            h, w = (h + 1) // 2, (w + 1) // 2
            shapes.append((width, h, w))
    down = [0.3 * torch.randn(batch, *s, generator=g) for s in shapes]
    mid = 0.3 * torch.randn(batch, ch[-1], h, w, generator=g)
    with torch.no_grad():
        out = forward(unet, sample, timestep, ctx, cond, down, mid)
    inputs = {'sample': sample, 'timestep': timestep, 'encoder_hidden_states': ctx, 'timestep_cond': cond,
              'mid_block_additional_residual': mid}
    inputs.update({f'down_block_additional_residual_{i}': r for i, r in enumerate(down)})
    with open(os.path.join(a.out, 'reference.json'), 'w') as f:
        json.dump({'inputs': {k: tensor_json(v) for k, v in inputs.items()}, 'out_sample': tensor_json(out)}, f)
    print(f'wrote {a.out}: out_sample {list(out.shape)}, max |out| {float(out.abs().max()):.3f}')


if __name__ == '__main__':
    main()
