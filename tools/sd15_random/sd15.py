"""Stable Diffusion 1.5's networks at full size (or a structurally identical toy size), for random weights.

CLIP text transformer (transformers' CLIPTextModel), UNet2DConditionModel and AutoencoderKL with SD 1.5's
published configs. Module and parameter names follow transformers / diffusers
(text_model.encoder.layers.N.self_attn.q_proj, down_blocks.N.attentions.M.transformer_blocks.0.attn1.to_q,
encoder.mid_block.attentions.0.to_q, ...), so LoRA keys written for SD 1.5 map onto these weights. The
architectures follow the published designs; the code is our own.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# The transformer block (norms, attentions, GEGLU feed-forward) is the tiny model's, with SD 1.5's
# attention and feed-forward width.
from tools.tiny_model.models import BasicTransformerBlock

# SD 1.5's published configs (runwayml/stable-diffusion-v1-5) and a toy variant with the same structure:
# same block types, layer counts, vocabulary and positions, only narrower (the UNet keeps SD 1.5's 8
# heads; the text encoder keeps its 64-wide heads).
SCALES = {
    'full': dict(
        text=dict(vocab_size=49408, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                  intermediate_size=3072, max_position_embeddings=77),
        unet=dict(block_out_channels=[320, 640, 1280, 1280], layers_per_block=2, cross_attention_dim=768,
                  attention_head_dim=8, norm_num_groups=32, sample_size=64),
        vae=dict(block_out_channels=[128, 256, 512, 512], layers_per_block=2, latent_channels=4,
                 norm_num_groups=32, sample_size=512, scaling_factor=0.18215),
    ),
    'toy': dict(
        # One 64-wide head, as every CLIP text model's heads are 64 wide (ViT-L/14: 768 / 12), so a
        # converter reading only tensor shapes infers the head count a real checkpoint has.
        text=dict(vocab_size=49408, hidden_size=64, num_hidden_layers=2, num_attention_heads=1,
                  intermediate_size=256, max_position_embeddings=77),
        unet=dict(block_out_channels=[32, 64, 64, 64], layers_per_block=2, cross_attention_dim=64,
                  attention_head_dim=8, norm_num_groups=32, sample_size=64),
        vae=dict(block_out_channels=[32, 32, 64, 64], layers_per_block=2, latent_channels=4,
                 norm_num_groups=32, sample_size=512, scaling_factor=0.18215),
    ),
}

# diffusers' UNet2DConditionModel parameter count for SD 1.5's config.
SD15_UNET_PARAMETERS = 859_520_964

DOWN_BLOCK_TYPES = ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D']
UP_BLOCK_TYPES = ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D']


# ------------------------------------------------------------------------------------------ text encoder

class CLIPAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x, mask):
        b, n, d = x.shape
        h = self.heads
        q = self.q_proj(x).reshape(b, -1, h, d // h).transpose(1, 2) * (d // h) ** -0.5
        k = self.k_proj(x).reshape(b, -1, h, d // h).transpose(1, 2)
        v = self.v_proj(x).reshape(b, -1, h, d // h).transpose(1, 2)
        out = ((q @ k.transpose(-1, -2)) + mask).softmax(-1) @ v
        return self.out_proj(out.transpose(1, 2).reshape(b, -1, d))


class CLIPMLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu


class CLIPEncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        self.self_attn = CLIPAttention(dim, heads)
        self.layer_norm1 = nn.LayerNorm(dim)
        self.mlp = CLIPMLP(dim, hidden)
        self.layer_norm2 = nn.LayerNorm(dim)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPTextEmbeddings(nn.Module):
    def __init__(self, vocab: int, dim: int, positions: int):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, dim)
        self.position_embedding = nn.Embedding(positions, dim)


class CLIPEncoder(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, layers: int):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(dim, heads, hidden) for _ in range(layers)])


class CLIPTextTransformer(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        dim = c['hidden_size']
        self.embeddings = CLIPTextEmbeddings(c['vocab_size'], dim, c['max_position_embeddings'])
        self.encoder = CLIPEncoder(dim, c['num_attention_heads'], c['intermediate_size'], c['num_hidden_layers'])
        self.final_layer_norm = nn.LayerNorm(dim)
        n = c['max_position_embeddings']
        self.register_buffer('causal_mask', torch.full((n, n), float('-inf')).triu(1), persistent=False)


class CLIPTextModel(nn.Module):
    """input_ids [B, L] (int32 or int64) -> (last_hidden_state [B, L, D], pooler_output [B, D])."""

    def __init__(self, c: dict):
        super().__init__()
        self.text_model = CLIPTextTransformer(c)

    def forward(self, input_ids):
        tm = self.text_model
        ids = input_ids.to(torch.int64)
        n = ids.shape[1]
        x = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding.weight[:n].unsqueeze(0)
        mask = tm.causal_mask[:n, :n]
        for layer in tm.encoder.layers:
            x = layer(x, mask)
        x = tm.final_layer_norm(x)
        # CLIP pools at the first occurrence of the highest id, <|endoftext|>.
        pooled = x[torch.arange(x.shape[0]), ids.argmax(dim=-1)]
        return x, pooled


# ------------------------------------------------------------------------------------------ shared blocks

class ResnetBlock2D(nn.Module):
    def __init__(self, cin: int, cout: int, groups: int, eps: float, temb: int | None = None):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        if temb is not None:
            self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.conv_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if temb is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.conv_shortcut(x) if hasattr(self, 'conv_shortcut') else x) + h


class Downsample2D(nn.Module):
    """UNet: 3x3 stride-2 conv, padding 1. VAE encoder: padding 0 after padding right and bottom by one."""

    def __init__(self, ch: int, vae: bool):
        super().__init__()
        self.vae = vae
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=0 if vae else 1)

    def forward(self, x):
        if self.vae:
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))


# ------------------------------------------------------------------------------------------ UNet

def timestep_embedding(t, dim: int):
    """diffusers' get_timestep_embedding with SD's flip_sin_to_cos=True, freq_shift=0."""
    half = dim // 2
    exponent = -math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    emb = t.to(torch.float32)[:, None] * torch.exp(exponent)[None, :]
    return torch.cat([torch.cos(emb), torch.sin(emb)], dim=-1)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, context_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim or dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim or dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])

    def forward(self, x, context=None):
        ctx = x if context is None else context
        b, _, d = x.shape
        h = self.heads
        q = self.to_q(x).reshape(b, -1, h, d // h).transpose(1, 2)
        k = self.to_k(ctx).reshape(b, -1, h, d // h).transpose(1, 2)
        v = self.to_v(ctx).reshape(b, -1, h, d // h).transpose(1, 2)
        att = ((q @ k.transpose(-1, -2)) * (d // h) ** -0.5).softmax(-1)
        return self.to_out[0]((att @ v).transpose(1, 2).reshape(b, -1, d))


class Transformer2DModel(nn.Module):
    """SD 1.5: GroupNorm, 1x1 conv proj_in/proj_out (use_linear_projection false), one transformer block."""

    def __init__(self, ch: int, heads: int, context_dim: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch, eps=1e-6)
        self.proj_in = nn.Conv2d(ch, ch, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(ch, heads, context_dim, attention=Attention, ff_mult=4)])
        self.proj_out = nn.Conv2d(ch, ch, 1)

    def forward(self, x, context):
        b, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x)).reshape(b, c, -1).transpose(1, 2)
        for blk in self.transformer_blocks:
            h = blk(h, context)
        h = h.transpose(1, 2).reshape(b, c, hh, ww)
        return x + self.proj_out(h)


class UNet2DConditionModel(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        ch = c['block_out_channels']
        groups = c['norm_num_groups']
        heads = c['attention_head_dim']  # SD 1.5's config calls the head count attention_head_dim
        ctx = c['cross_attention_dim']
        layers = c['layers_per_block']
        temb = ch[0] * 4
        self.time_proj_dim = ch[0]
        self.conv_in = nn.Conv2d(4, ch[0], 3, padding=1)
        self.time_embedding = nn.Module()
        self.time_embedding.linear_1 = nn.Linear(ch[0], temb)
        self.time_embedding.linear_2 = nn.Linear(temb, temb)

        def resnet(a, b):
            return ResnetBlock2D(a, b, groups, 1e-5, temb)

        def transformer(a):
            return Transformer2DModel(a, heads, ctx, groups)

        skips = [ch[0]]
        self.down_blocks = nn.ModuleList()
        cin = ch[0]
        for i, cout in enumerate(ch):
            blk = nn.Module()
            blk.resnets = nn.ModuleList()
            if DOWN_BLOCK_TYPES[i] == 'CrossAttnDownBlock2D':
                blk.attentions = nn.ModuleList()
            for _ in range(layers):
                blk.resnets.append(resnet(cin, cout))
                if hasattr(blk, 'attentions'):
                    blk.attentions.append(transformer(cout))
                cin = cout
                skips.append(cout)
            if i < len(ch) - 1:
                blk.downsamplers = nn.ModuleList([Downsample2D(cout, vae=False)])
                skips.append(cout)
            self.down_blocks.append(blk)

        self.mid_block = nn.Module()
        self.mid_block.attentions = nn.ModuleList([transformer(cin)])
        self.mid_block.resnets = nn.ModuleList([resnet(cin, cin), resnet(cin, cin)])

        self.up_blocks = nn.ModuleList()
        for i, cout in enumerate(reversed(ch)):
            blk = nn.Module()
            blk.resnets = nn.ModuleList()
            if UP_BLOCK_TYPES[i] == 'CrossAttnUpBlock2D':
                blk.attentions = nn.ModuleList()
            for _ in range(layers + 1):
                blk.resnets.append(resnet(cin + skips.pop(), cout))
                if hasattr(blk, 'attentions'):
                    blk.attentions.append(transformer(cout))
                cin = cout
            if i < len(ch) - 1:
                blk.upsamplers = nn.ModuleList([Upsample2D(cout)])
            self.up_blocks.append(blk)
        self.conv_norm_out = nn.GroupNorm(groups, cin, eps=1e-5)
        self.conv_out = nn.Conv2d(cin, 4, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states):
        t = timestep.reshape(-1).expand(sample.shape[0])
        te = self.time_embedding
        emb = te.linear_2(F.silu(te.linear_1(timestep_embedding(t, self.time_proj_dim))))
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
        h = self.mid_block.resnets[0](h, emb)
        h = self.mid_block.attentions[0](h, ctx)
        h = self.mid_block.resnets[1](h, emb)
        for blk in self.up_blocks:
            for j, r in enumerate(blk.resnets):
                h = r(torch.cat([h, skips.pop()], dim=1), emb)
                if hasattr(blk, 'attentions'):
                    h = blk.attentions[j](h, ctx)
            if hasattr(blk, 'upsamplers'):
                h = blk.upsamplers[0](h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


# ------------------------------------------------------------------------------------------ autoencoder

class VAEAttention(nn.Module):
    """The VAE mid-block's single-head self-attention over all positions (diffusers' Attention with
    group_norm and a residual connection)."""

    def __init__(self, ch: int, groups: int):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, ch, eps=1e-6)
        self.to_q = nn.Linear(ch, ch)
        self.to_k = nn.Linear(ch, ch)
        self.to_v = nn.Linear(ch, ch)
        self.to_out = nn.ModuleList([nn.Linear(ch, ch), nn.Dropout(0.0)])

    def forward(self, x):
        b, c, hh, ww = x.shape
        h = self.group_norm(x).reshape(b, c, -1).transpose(1, 2)
        q, k, v = self.to_q(h), self.to_k(h), self.to_v(h)
        att = ((q @ k.transpose(-1, -2)) * c ** -0.5).softmax(-1)
        out = self.to_out[0](att @ v).transpose(1, 2).reshape(b, c, hh, ww)
        return x + out


class VAEMidBlock(nn.Module):
    def __init__(self, ch: int, groups: int):
        super().__init__()
        self.attentions = nn.ModuleList([VAEAttention(ch, groups)])
        self.resnets = nn.ModuleList([ResnetBlock2D(ch, ch, groups, 1e-6), ResnetBlock2D(ch, ch, groups, 1e-6)])

    def forward(self, x):
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class VAEEncoder(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        ch, groups, layers = c['block_out_channels'], c['norm_num_groups'], c['layers_per_block']
        self.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        cin = ch[0]
        for i, cout in enumerate(ch):
            blk = nn.Module()
            blk.resnets = nn.ModuleList()
            for _ in range(layers):
                blk.resnets.append(ResnetBlock2D(cin, cout, groups, 1e-6))
                cin = cout
            if i < len(ch) - 1:
                blk.downsamplers = nn.ModuleList([Downsample2D(cout, vae=True)])
            self.down_blocks.append(blk)
        self.mid_block = VAEMidBlock(cin, groups)
        self.conv_norm_out = nn.GroupNorm(groups, cin, eps=1e-6)
        self.conv_out = nn.Conv2d(cin, 2 * c['latent_channels'], 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for blk in self.down_blocks:
            for r in blk.resnets:
                h = r(h)
            if hasattr(blk, 'downsamplers'):
                h = blk.downsamplers[0](h)
        h = self.mid_block(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class VAEDecoder(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        ch, groups, layers = list(reversed(c['block_out_channels'])), c['norm_num_groups'], c['layers_per_block']
        self.conv_in = nn.Conv2d(c['latent_channels'], ch[0], 3, padding=1)
        self.mid_block = VAEMidBlock(ch[0], groups)
        self.up_blocks = nn.ModuleList()
        cin = ch[0]
        for i, cout in enumerate(ch):
            blk = nn.Module()
            blk.resnets = nn.ModuleList()
            for _ in range(layers + 1):
                blk.resnets.append(ResnetBlock2D(cin, cout, groups, 1e-6))
                cin = cout
            if i < len(ch) - 1:
                blk.upsamplers = nn.ModuleList([Upsample2D(cout)])
            self.up_blocks.append(blk)
        self.conv_norm_out = nn.GroupNorm(groups, cin, eps=1e-6)
        self.conv_out = nn.Conv2d(cin, 3, 3, padding=1)

    def forward(self, z):
        h = self.mid_block(self.conv_in(z))
        for blk in self.up_blocks:
            for r in blk.resnets:
                h = r(h)
            if hasattr(blk, 'upsamplers'):
                h = blk.upsamplers[0](h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        lc = c['latent_channels']
        self.encoder = VAEEncoder(c)
        self.decoder = VAEDecoder(c)
        self.quant_conv = nn.Conv2d(2 * lc, 2 * lc, 1)
        self.post_quant_conv = nn.Conv2d(lc, lc, 1)

    def encode_parameters(self, x):
        """Mean and log-variance concatenated on channels (diffusers' latent_dist.parameters)."""
        return self.quant_conv(self.encoder(x))

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


# ------------------------------------------------------------------------------------------ weights

def random_init_(module: nn.Module, generator: torch.Generator) -> None:
    """Deterministic random weights, drawn in parameter order from `generator`: normal with std
    1/sqrt(fan_in) for convs and linears (variance-preserving, so activations stay O(1) through the
    residual stacks), N(0, 0.02) for embeddings, ones and zeros for norms, small normal biases."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            leaf = name.rsplit('.', 1)[-1]
            owner = module.get_submodule(name.rsplit('.', 1)[0]) if '.' in name else module
            if isinstance(owner, (nn.GroupNorm, nn.LayerNorm)):
                p.fill_(1.0 if leaf == 'weight' else 0.0)
            elif isinstance(owner, nn.Embedding):
                p.normal_(0.0, 0.02, generator=generator)
            elif leaf == 'bias':
                p.normal_(0.0, 0.01, generator=generator)
            else:
                fan_in = p[0].numel()
                p.normal_(0.0, fan_in ** -0.5, generator=generator)


def build(scale: str, seed: int) -> dict[str, nn.Module]:
    """The three networks with their seeded random weights; the same (scale, seed) gives the same weights."""
    c = SCALES[scale]
    nets = {
        'text_encoder': CLIPTextModel(c['text']),
        'unet': UNet2DConditionModel(c['unet']),
        'vae': AutoencoderKL(c['vae']),
    }
    for i, (_, net) in enumerate(nets.items()):
        g = torch.Generator().manual_seed(seed * 1000 + i)
        random_init_(net, g)
        net.eval()
    return nets


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
