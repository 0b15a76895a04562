"""Writes a seeded random-weight SDXL ControlNet (toy scale) as an ONNX folder, with PyTorch reference outputs.

The ControlNet has diffusers' ControlNetModel structure for SDXL (addition_embed_type 'text_time'): the
UNet's time and added-conditioning embeddings, conv_in, down blocks and mid block (copied from the toy
UNet's modules, so the same architecture), a conditioning embedding that brings the RGB hint from the
output size down to the latent size (conv 3x3 stacks with stride-2 steps), one 1x1 conv per skip tensor
and one after the mid block. Those convs start at zero in a trained-from-scratch ControlNet; here they are
seeded random so the outputs are non-zero and test something. The export takes sample, timestep,
encoder_hidden_states, controlnet_cond, conditioning_scale, text_embeds and time_ids and writes
down_block_res_sample_0..N-1 and mid_block_res_sample, as optimum-style ControlNet exports name them.
controlnet_reference.safetensors holds seeded inputs, the PyTorch residuals and `unet_out_sample`: the toy
UNet (make_model.py's weights for the same seed) with those residuals added, the proof that a UNet
graph's residual inputs are wired where diffusers adds them.

  python3 -m tools.sdxl_random.make_controlnet --out DIR [--seed 1234]
"""
from __future__ import annotations

import argparse
import copy
import os

import torch
import torch.nn.functional as F
from torch import nn

from tools.sd15_random import safetensors_file as st
from tools.sd15_random.make_model import torch_export
from tools.sd15_random.sd15 import random_init_, timestep_embedding

from . import sdxl

HINT_CHANNELS = (8, 16, 32, 32)


class ConditioningEmbedding(nn.Module):
    """RGB hint at the output size → conv_in's width at the latent size (three stride-2 steps: 1/8)."""

    def __init__(self, out_channels: int):
        super().__init__()
        self.conv_in = nn.Conv2d(3, HINT_CHANNELS[0], 3, padding=1)
        self.blocks = nn.ModuleList()
        for a, b in zip(HINT_CHANNELS[:-1], HINT_CHANNELS[1:]):
            self.blocks.append(nn.Conv2d(a, a, 3, padding=1))
            self.blocks.append(nn.Conv2d(a, b, 3, padding=1, stride=2))
        self.conv_out = nn.Conv2d(HINT_CHANNELS[-1], out_channels, 3, padding=1)

    def forward(self, x):
        x = F.silu(self.conv_in(x))
        for block in self.blocks:
            x = F.silu(block(x))
        return self.conv_out(x)


class SDXLControlNet(nn.Module):
    def __init__(self, unet: sdxl.SDXLUNet):
        super().__init__()
        self.time_proj_dim = unet.time_proj_dim
        self.add_time_dim = unet.add_time_dim
        self.conv_in = copy.deepcopy(unet.conv_in)
        self.time_embedding = copy.deepcopy(unet.time_embedding)
        self.add_embedding = copy.deepcopy(unet.add_embedding)
        self.down_blocks = copy.deepcopy(unet.down_blocks)
        self.mid_block = copy.deepcopy(unet.mid_block)
        ch0 = unet.conv_in.out_channels
        self.controlnet_cond_embedding = ConditioningEmbedding(ch0)
        skips = [ch0]
        # One skip per resnet and per downsampler, as the UNet's down path hands them to its up path.
        for blk in unet.down_blocks:
            for r in blk.resnets:
                skips.append(r.conv2.out_channels)
            if hasattr(blk, 'downsamplers'):
                skips.append(blk.resnets[-1].conv2.out_channels)
        self.controlnet_down_blocks = nn.ModuleList([nn.Conv2d(c, c, 1) for c in skips])
        mid = skips[-1]
        self.controlnet_mid_block = nn.Conv2d(mid, mid, 1)

    def forward(self, sample, timestep, encoder_hidden_states, controlnet_cond, conditioning_scale, text_embeds, time_ids):
        b = sample.shape[0]
        t = timestep.reshape(-1).expand(b)
        te = self.time_embedding
        emb = te.linear_2(F.silu(te.linear_1(timestep_embedding(t, self.time_proj_dim))))
        time_embeds = timestep_embedding(time_ids.reshape(-1), self.add_time_dim).reshape(b, -1)
        ae = self.add_embedding
        emb = emb + ae.linear_2(F.silu(ae.linear_1(torch.cat([text_embeds, time_embeds], dim=-1))))
        ctx = encoder_hidden_states
        h = self.conv_in(sample) + self.controlnet_cond_embedding(controlnet_cond)
        skips = [h]
        for blk in self.down_blocks:
            for j, r in enumerate(blk.resnets):
                h = r(h, emb)
                if hasattr(blk, 'attentions'):
                    h = blk.attentions[j](h, ctx)
                skips.append(h)
            if hasattr(blk, 'downsamplers'):
                h = blk.downsamplers[0](h)
                skips.append(h)
        h = self.mid_block.resnets[0](h, emb)
        h = self.mid_block.attentions[0](h, ctx)
        h = self.mid_block.resnets[1](h, emb)
        scale = conditioning_scale.reshape(())
        down = [conv(s) * scale for conv, s in zip(self.controlnet_down_blocks, skips)]
        return (*down, self.controlnet_mid_block(h) * scale)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=1234)
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('IMGPROMPT_TORCH_THREADS', '1')))
    c = sdxl.SCALES['toy']
    unet = sdxl.build('toy', a.seed)['unet']
    net = SDXLControlNet(unet)
    # The copied modules keep the UNet's weights; the new ones get seeded random weights.
    g = torch.Generator().manual_seed(a.seed * 1000 + 77)
    for module in (net.controlnet_cond_embedding, net.controlnet_down_blocks, net.controlnet_mid_block):
        random_init_(module, g)
    net.eval()
    u = c['unet']
    n_down = len(net.controlnet_down_blocks)
    outputs = [f'down_block_res_sample_{i}' for i in range(n_down)] + ['mid_block_res_sample']
    names = ['sample', 'timestep', 'encoder_hidden_states', 'controlnet_cond', 'conditioning_scale', 'text_embeds', 'time_ids']
    proj = c['text2']['projection_dim']
    args = (torch.zeros(2, 4, 8, 8), torch.tensor([999, 999], dtype=torch.int64), torch.zeros(2, 77, u['cross_attention_dim']),
            torch.zeros(2, 3, 64, 64), torch.tensor([1.0]), torch.zeros(2, proj), torch.zeros(2, 6))
    axes = {'sample': {0: 'batch_size', 2: 'height', 3: 'width'}, 'timestep': {0: 'steps'},
            'encoder_hidden_states': {0: 'batch_size', 1: 'sequence_length'}, 'controlnet_cond': {0: 'batch_size', 2: 'image_height', 3: 'image_width'},
            'text_embeds': {0: 'batch_size'}, 'time_ids': {0: 'batch_size'}}
    for name in outputs:
        axes[name] = {0: 'batch_size', 2: f'{name}_h', 3: f'{name}_w'}
    folder = os.path.join(a.out, 'controlnet')
    torch_export(net, args, os.path.join(folder, 'model.onnx'), names, outputs, axes)

    # Reference: seeded inputs at 12x16 latents (96x128 pixels), batch 2 (uncond, cond), scale 0.7.
    g = torch.Generator().manual_seed(a.seed + 5)
    inputs = {
        'sample': torch.randn(2, 4, 12, 16, generator=g),
        'timestep': torch.tensor([500, 500], dtype=torch.int64),
        'encoder_hidden_states': torch.randn(2, 77, u['cross_attention_dim'], generator=g),
        'controlnet_cond': torch.rand(2, 3, 96, 128, generator=g),
        'conditioning_scale': torch.tensor([0.7]),
        'text_embeds': torch.randn(2, proj, generator=g),
        'time_ids': torch.tensor([[96.0, 128.0, 0.0, 0.0, 96.0, 128.0]] * 2),
    }
    with torch.no_grad():
        out = net(*inputs.values())
        # The toy UNet (the same seed's weights as make_model.py's) with those residuals added, as
        # diffusers' UNet2DConditionModel takes down_block_additional_residuals / mid_block_additional_residual.
        unet_args = (inputs['sample'], inputs['timestep'], inputs['encoder_hidden_states'], inputs['text_embeds'], inputs['time_ids'])
        controlled = unet(*unet_args, down_residuals=list(out[:-1]), mid_residual=out[-1])
    if not torch.isfinite(controlled).all():
        raise ValueError('UNet + ControlNet reference output is not finite')
    entries = [st.entry(k, v.float()) for k, v in inputs.items()] + [st.entry(k, v) for k, v in zip(outputs, out)]
    entries.append(st.entry('unet_out_sample', controlled))
    tmp = os.path.join(a.out, 'controlnet_reference.safetensors.tmp')
    st.write(tmp, entries)
    os.replace(tmp, os.path.join(a.out, 'controlnet_reference.safetensors'))


if __name__ == '__main__':
    main()
