"""Stable Diffusion XL's networks with random weights: at full size (SDXL base 1.0's published configs) or a
structurally identical toy size for tests.

Two text encoders (transformers' CLIPTextModel, quick_gelu, as CLIP ViT-L; CLIPTextModelWithProjection,
gelu, as OpenCLIP ViT-bigG with its `text_projection`), both returning every hidden state as optimum's
SDXL export does; diffusers' UNet2DConditionModel with SDXL's structure (three levels, no attention at the
first, transformer depth per level, linear proj_in/proj_out, `add_embedding` of the pooled text embedding
and the sinusoidal embedding of `time_ids`); the SD VAE with SDXL's scaling factor. Module and parameter
names follow transformers / diffusers, so the same state dicts convert to the SGM single-file layout and
LoRA keys written for SDXL name these weights. The architectures follow the published designs; the code
is our own (tools/sd15_random's building blocks, reused).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tools.sd15_random.sd15 import (Attention, AutoencoderKL, CLIPAttention, Downsample2D, ResnetBlock2D,
                                    Upsample2D, count_params, random_init_, timestep_embedding)
from tools.tiny_model.models import BasicTransformerBlock

__all__ = ['SCALES', 'build', 'count_params', 'SDXLUNet', 'SDXLTextModel']

# SDXL base 1.0 (stabilityai/stable-diffusion-xl-base-1.0 configs) and a toy with the same structure: three
# UNet levels with attention at levels 1 and 2 (depth 1 and 2 instead of 2 and 10), 64-wide heads in the UNet and
# the text encoders (as SDXL's, so a converter reading only shapes infers the real head counts), the
# real vocabulary and 77 positions, narrower everywhere. The toy's second encoder is wider than its first,
# as bigG is wider than ViT-L, so the 2048-wide (here 192-wide) concatenation has two unequal halves.
SCALES = {
    'full': dict(
        text=dict(vocab_size=49408, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                  intermediate_size=3072, max_position_embeddings=77, hidden_act='quick_gelu'),
        text2=dict(vocab_size=49408, hidden_size=1280, num_hidden_layers=32, num_attention_heads=20,
                   intermediate_size=5120, max_position_embeddings=77, hidden_act='gelu', projection_dim=1280),
        unet=dict(block_out_channels=[320, 640, 1280], layers_per_block=2, transformer_layers_per_block=[1, 2, 10],
                  attention_head_dim=[5, 10, 20], cross_attention_dim=2048, norm_num_groups=32, sample_size=128,
                  addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816),
        vae=dict(block_out_channels=[128, 256, 512, 512], layers_per_block=2, latent_channels=4,
                 norm_num_groups=32, sample_size=1024, scaling_factor=0.13025),
    ),
    'toy': dict(
        text=dict(vocab_size=49408, hidden_size=64, num_hidden_layers=3, num_attention_heads=1,
                  intermediate_size=256, max_position_embeddings=77, hidden_act='quick_gelu'),
        text2=dict(vocab_size=49408, hidden_size=128, num_hidden_layers=3, num_attention_heads=2,
                   intermediate_size=512, max_position_embeddings=77, hidden_act='gelu', projection_dim=128),
        unet=dict(block_out_channels=[32, 64, 128], layers_per_block=2, transformer_layers_per_block=[1, 1, 2],
                  attention_head_dim=[1, 1, 2], cross_attention_dim=192, norm_num_groups=32, sample_size=128,
                  addition_time_embed_dim=16, projection_class_embeddings_input_dim=128 + 6 * 16),
        vae=dict(block_out_channels=[32, 32, 64, 64], layers_per_block=2, latent_channels=4,
                 norm_num_groups=32, sample_size=1024, scaling_factor=0.13025),
    ),
}

# diffusers' UNet2DConditionModel parameter count for SDXL base 1.0's config.
SDXL_UNET_PARAMETERS = 2_567_463_684

DOWN_BLOCK_TYPES = ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D']
UP_BLOCK_TYPES = ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D']


# ------------------------------------------------------------------------------------------ text encoders

class CLIPMLP(nn.Module):
    def __init__(self, dim: int, hidden: int, act: str):
        super().__init__()
        self.act = act
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        h = self.fc1(x)
        h = h * torch.sigmoid(1.702 * h) if self.act == 'quick_gelu' else F.gelu(h)
        return self.fc2(h)


class CLIPEncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, act: str):
        super().__init__()
        self.self_attn = CLIPAttention(dim, heads)
        self.layer_norm1 = nn.LayerNorm(dim)
        self.mlp = CLIPMLP(dim, hidden, act)
        self.layer_norm2 = nn.LayerNorm(dim)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class _Embeddings(nn.Module):
    def __init__(self, vocab: int, dim: int, positions: int):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, dim)
        self.position_embedding = nn.Embedding(positions, dim)


class _Encoder(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.layers = nn.ModuleList([
            CLIPEncoderLayer(c['hidden_size'], c['num_attention_heads'], c['intermediate_size'], c['hidden_act'])
            for _ in range(c['num_hidden_layers'])])


class _TextTransformer(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        dim = c['hidden_size']
        self.embeddings = _Embeddings(c['vocab_size'], dim, c['max_position_embeddings'])
        self.encoder = _Encoder(c)
        self.final_layer_norm = nn.LayerNorm(dim)
        n = c['max_position_embeddings']
        self.register_buffer('causal_mask', torch.full((n, n), float('-inf')).triu(1), persistent=False)


class SDXLTextModel(nn.Module):
    """input_ids [B, L] -> (last_hidden_state, pooled, hidden_states list of num_layers + 1).

    Without `projection_dim` (CLIPTextModel): pooled is `pooler_output`, the final-norm state at the first
    <|endoftext|> (the highest id). With it (CLIPTextModelWithProjection): pooled is `text_embeds`, that
    state through the bias-free `text_projection`."""

    def __init__(self, c: dict):
        super().__init__()
        self.text_model = _TextTransformer(c)
        if 'projection_dim' in c:
            self.text_projection = nn.Linear(c['hidden_size'], c['projection_dim'], bias=False)

    def forward(self, input_ids):
        tm = self.text_model
        ids = input_ids.to(torch.int64)
        n = ids.shape[1]
        x = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding.weight[:n].unsqueeze(0)
        mask = tm.causal_mask[:n, :n]
        states = [x]
        for layer in tm.encoder.layers:
            x = layer(x, mask)
            states.append(x)
        last = tm.final_layer_norm(x)
        pooled = last[torch.arange(last.shape[0]), ids.argmax(dim=-1)]
        if hasattr(self, 'text_projection'):
            pooled = self.text_projection(pooled)
        return last, pooled, states


# ------------------------------------------------------------------------------------------ UNet

class Transformer2DModel(nn.Module):
    """SDXL: GroupNorm, Linear proj_in / proj_out (use_linear_projection true), `depth` transformer blocks."""

    def __init__(self, ch: int, heads: int, context_dim: int, groups: int, depth: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch, eps=1e-6)
        self.proj_in = nn.Linear(ch, ch)
        self.transformer_blocks = nn.ModuleList([
            BasicTransformerBlock(ch, heads, context_dim, attention=Attention, ff_mult=4) for _ in range(depth)])
        self.proj_out = nn.Linear(ch, ch)

    def forward(self, x, context):
        b, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x).reshape(b, c, -1).transpose(1, 2))
        for blk in self.transformer_blocks:
            h = blk(h, context)
        return x + self.proj_out(h).transpose(1, 2).reshape(b, c, hh, ww)


class SDXLUNet(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        ch = c['block_out_channels']
        groups = c['norm_num_groups']
        heads = c['attention_head_dim']  # diffusers' SDXL config names the head counts attention_head_dim
        depth = c['transformer_layers_per_block']
        ctx = c['cross_attention_dim']
        layers = c['layers_per_block']
        # SDXL base's block types unless the config names others (the refiner: four levels, attention at the middle two).
        down_types = c.get('down_block_types', DOWN_BLOCK_TYPES)
        up_types = c.get('up_block_types', UP_BLOCK_TYPES)
        temb = ch[0] * 4
        self.time_proj_dim = ch[0]
        self.add_time_dim = c['addition_time_embed_dim']
        self.conv_in = nn.Conv2d(4, ch[0], 3, padding=1)
        self.time_embedding = nn.Module()
        self.time_embedding.linear_1 = nn.Linear(ch[0], temb)
        self.time_embedding.linear_2 = nn.Linear(temb, temb)
        self.add_embedding = nn.Module()
        self.add_embedding.linear_1 = nn.Linear(c['projection_class_embeddings_input_dim'], temb)
        self.add_embedding.linear_2 = nn.Linear(temb, temb)

        def resnet(a, b):
            return ResnetBlock2D(a, b, groups, 1e-5, temb)

        skips = [ch[0]]
        self.down_blocks = nn.ModuleList()
        cin = ch[0]
        for i, cout in enumerate(ch):
            blk = nn.Module()
            blk.resnets = nn.ModuleList()
            if down_types[i] == 'CrossAttnDownBlock2D':
                blk.attentions = nn.ModuleList()
            for _ in range(layers):
                blk.resnets.append(resnet(cin, cout))
                if hasattr(blk, 'attentions'):
                    blk.attentions.append(Transformer2DModel(cout, heads[i], ctx, groups, depth[i]))
                cin = cout
                skips.append(cout)
            if i < len(ch) - 1:
                blk.downsamplers = nn.ModuleList([Downsample2D(cout, vae=False)])
                skips.append(cout)
            self.down_blocks.append(blk)

        self.mid_block = nn.Module()
        self.mid_block.attentions = nn.ModuleList([Transformer2DModel(cin, heads[-1], ctx, groups, depth[-1])])
        self.mid_block.resnets = nn.ModuleList([resnet(cin, cin), resnet(cin, cin)])

        self.up_blocks = nn.ModuleList()
        for i, cout in enumerate(reversed(ch)):
            level = len(ch) - 1 - i
            blk = nn.Module()
            blk.resnets = nn.ModuleList()
            if up_types[i] == 'CrossAttnUpBlock2D':
                blk.attentions = nn.ModuleList()
            for _ in range(layers + 1):
                blk.resnets.append(resnet(cin + skips.pop(), cout))
                if hasattr(blk, 'attentions'):
                    blk.attentions.append(Transformer2DModel(cout, heads[level], ctx, groups, depth[level]))
                cin = cout
            if i < len(ch) - 1:
                blk.upsamplers = nn.ModuleList([Upsample2D(cout)])
            self.up_blocks.append(blk)
        self.conv_norm_out = nn.GroupNorm(groups, cin, eps=1e-5)
        self.conv_out = nn.Conv2d(cin, 4, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids, down_residuals=None, mid_residual=None):
        """`down_residuals` / `mid_residual`: a ControlNet's outputs, added to the skip tensors and the mid
        block's output as diffusers' UNet2DConditionModel adds down_block_additional_residuals and
        mid_block_additional_residual."""
        b = sample.shape[0]
        t = timestep.reshape(-1).expand(b)
        te = self.time_embedding
        emb = te.linear_2(F.silu(te.linear_1(timestep_embedding(t, self.time_proj_dim))))
        # addition_embed_type 'text_time': the time ids (six; the refiner's five), each embedded sinusoidally, after the pooled text.
        time_embeds = timestep_embedding(time_ids.reshape(-1), self.add_time_dim).reshape(b, -1)
        ae = self.add_embedding
        emb = emb + ae.linear_2(F.silu(ae.linear_1(torch.cat([text_embeds, time_embeds], dim=-1))))
        ctx = encoder_hidden_states
        h = self.conv_in(sample)
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
        if down_residuals is not None:
            assert len(down_residuals) == len(skips), (len(down_residuals), len(skips))
            skips = [s + r for s, r in zip(skips, down_residuals)]
        h = self.mid_block.resnets[0](h, emb)
        h = self.mid_block.attentions[0](h, ctx)
        h = self.mid_block.resnets[1](h, emb)
        if mid_residual is not None:
            h = h + mid_residual
        for blk in self.up_blocks:
            for j, r in enumerate(blk.resnets):
                h = r(torch.cat([h, skips.pop()], dim=1), emb)
                if hasattr(blk, 'attentions'):
                    h = blk.attentions[j](h, ctx)
            if hasattr(blk, 'upsamplers'):
                h = blk.upsamplers[0](h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


# ------------------------------------------------------------------------------------------ weights

def build(scale: str, seed: int, half_rounded: bool = False) -> dict[str, nn.Module]:
    """The four networks with their seeded random weights; the same (scale, seed) gives the same weights.
    half_rounded: every weight rounded to the nearest float16 (kept in float32), so that a float16 file
    of them stores exactly the weights the references are computed with."""
    c = SCALES[scale]
    nets = {
        'text_encoder': SDXLTextModel(c['text']),
        'text_encoder_2': SDXLTextModel(c['text2']),
        'unet': SDXLUNet(c['unet']),
        'vae': AutoencoderKL(c['vae']),
    }
    for i, net in enumerate(nets.values()):
        random_init_(net, torch.Generator().manual_seed(seed * 1000 + i))
        if half_rounded:
            with torch.no_grad():
                for p in net.parameters():
                    p.copy_(p.half())
        net.eval()
    return nets
