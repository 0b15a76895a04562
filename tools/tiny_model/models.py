"""The tiny-shapes networks: CLIP-style text encoder, KL autoencoder, conditional UNet.

Module names follow Hugging Face transformers / diffusers (text_model.encoder.layers.N.self_attn.q_proj,
down_blocks.N.attentions.M.transformer_blocks.0.attn2.to_k, ...) so that LoRA key names written for
those libraries map onto these weights. The architectures follow the published designs (CLIP text
transformer; SD's AutoencoderKL and UNet2DConditionModel) at a much smaller size; the code is our own.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# ------------------------------------------------------------------------------------------ text encoder

class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


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
        q = self.q_proj(x).reshape(b, n, h, d // h).transpose(1, 2)
        k = self.k_proj(x).reshape(b, n, h, d // h).transpose(1, 2)
        v = self.v_proj(x).reshape(b, n, h, d // h).transpose(1, 2)
        att = (q @ k.transpose(-1, -2)) * (d // h) ** -0.5 + mask
        out = att.softmax(-1) @ v
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))


class CLIPMLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.activation_fn = QuickGELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.activation_fn(self.fc1(x)))


class CLIPEncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(dim)
        self.self_attn = CLIPAttention(dim, heads)
        self.layer_norm2 = nn.LayerNorm(dim)
        self.mlp = CLIPMLP(dim, hidden)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPEncoder(nn.Module):
    def __init__(self, dim, heads, hidden, layers):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(dim, heads, hidden) for _ in range(layers)])


class CLIPTextEmbeddings(nn.Module):
    def __init__(self, vocab, dim, positions):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, dim)
        self.position_embedding = nn.Embedding(positions, dim)


class CLIPTextTransformer(nn.Module):
    def __init__(self, vocab, dim, heads, hidden, layers, positions):
        super().__init__()
        self.embeddings = CLIPTextEmbeddings(vocab, dim, positions)
        self.encoder = CLIPEncoder(dim, heads, hidden, layers)
        self.final_layer_norm = nn.LayerNorm(dim)
        self.register_buffer('causal_mask', torch.full((positions, positions), float('-inf')).triu(1),
                             persistent=False)


class TextEncoder(nn.Module):
    """input_ids [B, L] -> (last_hidden_state [B, L, D], pooler_output [B, D] at the first EOS)."""

    def __init__(self, vocab_size: int, hidden_size: int = 128, num_layers: int = 4, num_heads: int = 4,
                 intermediate_size: int = 512, max_positions: int = 77):
        super().__init__()
        self.config = dict(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
                           num_attention_heads=num_heads, intermediate_size=intermediate_size,
                           max_position_embeddings=max_positions)
        self.text_model = CLIPTextTransformer(vocab_size, hidden_size, num_heads, intermediate_size,
                                              num_layers, max_positions)

    def forward(self, input_ids, out_length: int | None = None):
        """out_length: when input_ids were cut after the longest prompt's EOS (training), pad the output
        back to this length; the result equals running on the full padded sequence."""
        tm = self.text_model
        ids = input_ids.to(torch.int64)
        n = ids.shape[1]
        x = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding.weight[:n].unsqueeze(0)
        mask = tm.causal_mask[:n, :n]
        for layer in tm.encoder.layers:
            x = layer(x, mask)
        x = tm.final_layer_norm(x)
        # CLIP pools at the first occurrence of the highest id, which is <|endoftext|>.
        eos = ids.argmax(dim=-1)
        pooled = x[torch.arange(x.shape[0]), eos]
        # Positions after the first EOS carry the EOS state itself. The causal encoder makes every
        # position up to the EOS independent of what follows, so training can skip the padding, and
        # the UNet sees the same context whatever the padding token is.
        if out_length is not None and out_length > n:
            x = torch.cat([x, x.new_zeros(x.shape[0], out_length - n, x.shape[2])], dim=1)
            n = out_length
        after = torch.arange(n, device=x.device)[None, :] > eos[:, None]
        x = torch.where(after[:, :, None], pooled[:, None, :], x)
        return x, pooled


class TextAuxHeads(nn.Module):
    """Training-only classifiers on pooler_output that force the text features to encode which colour
    plays which role (background vs first vs second object). Not exported."""

    def __init__(self, dim: int, classes: dict[str, int]):
        super().__init__()
        self.heads = nn.ModuleDict({k: nn.Linear(dim, n) for k, n in classes.items()})

    def forward(self, pooled):
        return {k: h(pooled) for k, h in self.heads.items()}


# ------------------------------------------------------------------------------------------ autoencoder

def _gn(ch):
    groups = max(1, min(32, ch // 4))
    while ch % groups:
        groups -= 1
    return nn.GroupNorm(groups, ch, eps=1e-6)


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb=None):
        super().__init__()
        self.norm1 = _gn(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        if temb:
            self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = _gn(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if temb is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.conv_shortcut(x) if self.conv_shortcut is not None else x) + h


class Downsample2D(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))


class _Level(nn.Module):
    def __init__(self, resnets, sampler, sampler_name):
        super().__init__()
        self.resnets = nn.ModuleList(resnets)
        if sampler is not None:
            setattr(self, sampler_name, nn.ModuleList([sampler]))


class VAEEncoder(nn.Module):
    def __init__(self, channels=(16, 32, 64, 64), latent_channels=4):
        super().__init__()
        self.conv_in = nn.Conv2d(3, channels[0], 3, padding=1)
        blocks = []
        cin = channels[0]
        for i, ch in enumerate(channels):
            last = i == len(channels) - 1
            blocks.append(_Level([ResnetBlock2D(cin, ch)], None if last else Downsample2D(ch), 'downsamplers'))
            cin = ch
        self.down_blocks = nn.ModuleList(blocks)
        self.mid_block = ResnetBlock2D(cin, cin)
        self.conv_norm_out = _gn(cin)
        self.conv_out = nn.Conv2d(cin, 2 * latent_channels, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for b in self.down_blocks:
            for r in b.resnets:
                h = r(h)
            if hasattr(b, 'downsamplers'):
                h = b.downsamplers[0](h)
        h = self.mid_block(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class VAEDecoder(nn.Module):
    def __init__(self, channels=(16, 32, 64, 64), latent_channels=4):
        super().__init__()
        rev = list(reversed(channels))
        self.conv_in = nn.Conv2d(latent_channels, rev[0], 3, padding=1)
        self.mid_block = ResnetBlock2D(rev[0], rev[0])
        blocks = []
        cin = rev[0]
        for i, ch in enumerate(rev):
            last = i == len(rev) - 1
            blocks.append(_Level([ResnetBlock2D(cin, ch)], None if last else Upsample2D(ch), 'upsamplers'))
            cin = ch
        self.up_blocks = nn.ModuleList(blocks)
        self.conv_norm_out = _gn(cin)
        self.conv_out = nn.Conv2d(cin, 3, 3, padding=1)

    def forward(self, z):
        h = self.mid_block(self.conv_in(z))
        for b in self.up_blocks:
            for r in b.resnets:
                h = r(h)
            if hasattr(b, 'upsamplers'):
                h = b.upsamplers[0](h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class AutoencoderKL(nn.Module):
    """8x down, 4 latent channels. Images in [-1, 1]; latents unscaled (multiply by scaling_factor for
    the UNet, as in SD)."""

    def __init__(self, channels=(16, 32, 64, 64), latent_channels=4):
        super().__init__()
        self.config = dict(block_out_channels=list(channels), latent_channels=latent_channels,
                           layers_per_block=1, in_channels=3, out_channels=3)
        self.encoder = VAEEncoder(channels, latent_channels)
        self.quant_conv = nn.Conv2d(2 * latent_channels, 2 * latent_channels, 1)
        self.decoder = VAEDecoder(channels, latent_channels)
        self.post_quant_conv = nn.Conv2d(latent_channels, latent_channels, 1)

    def encode(self, x):
        mean, logvar = self.quant_conv(self.encoder(x)).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


# ------------------------------------------------------------------------------------------ UNet

def timestep_embedding(t, dim, flip_sin_to_cos=True, freq_shift=0.0, max_period=10000.0):
    """Sinusoidal embedding with diffusers' get_timestep_embedding conventions (SD: flip, shift 0)."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32) / (half - freq_shift)
    emb = t.to(torch.float32)[:, None] * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    return emb


class Attention(nn.Module):
    def __init__(self, dim, heads, context_dim=None):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim or dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim or dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])

    def forward(self, x, context=None):
        ctx = x if context is None else context
        b, n, d = x.shape
        h = self.heads
        q = (self.to_q(x) * (d // h) ** -0.5).reshape(b, n, h, d // h).transpose(1, 2)
        k = self.to_k(ctx).reshape(b, -1, h, d // h).transpose(1, 2)
        v = self.to_v(ctx).reshape(b, -1, h, d // h).transpose(1, 2)
        att = (q @ k.transpose(-1, -2)).softmax(-1)
        return self.to_out[0]((att @ v).transpose(1, 2).reshape(b, n, d))


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        a, gate = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim, mult=2):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * mult), nn.Identity(), nn.Linear(dim * mult, dim)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


class BasicTransformerBlock(nn.Module):
    """`attention` and `ff_mult` let tools/sd15_random reuse the block with SD 1.5's attention (scale
    on the scores, as diffusers exports it) and 4x feed-forward."""

    def __init__(self, dim, heads, context_dim, attention=None, ff_mult=2):
        super().__init__()
        attention = attention or Attention
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = attention(dim, heads, context_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, ff_mult)

    def forward(self, x, context):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class Transformer2DModel(nn.Module):
    def __init__(self, ch, heads, context_dim):
        super().__init__()
        self.norm = _gn(ch)
        self.proj_in = nn.Linear(ch, ch)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(ch, heads, context_dim)])
        self.proj_out = nn.Linear(ch, ch)

    def forward(self, x, context):
        b, c, hh, ww = x.shape
        h = self.norm(x).reshape(b, c, hh * ww).transpose(1, 2)
        h = self.proj_in(h)
        for blk in self.transformer_blocks:
            h = blk(h, context)
        h = self.proj_out(h).transpose(1, 2).reshape(b, c, hh, ww)
        return x + h


class TextPooling(nn.Module):
    """Attention pooling of encoder_hidden_states into one vector added to the time embedding: a global
    path for scene-wide attributes (the background colour) next to the spatial cross-attention."""

    def __init__(self, context_dim, temb_dim):
        super().__init__()
        self.norm = nn.LayerNorm(context_dim)
        self.score = nn.Linear(context_dim, 1)
        self.linear_1 = nn.Linear(context_dim, temb_dim)
        self.linear_2 = nn.Linear(temb_dim, temb_dim)

    def forward(self, context):
        h = self.norm(context)
        w = self.score(h).softmax(dim=1)
        pooled = (w * h).sum(dim=1)
        return self.linear_2(F.silu(self.linear_1(pooled)))


def conditioning_embedding(m: nn.Module, timestep, ctx, batch: int):
    """Timestep embedding plus the pooled text: what every resnet of a UNet (or its ControlNet) is
    conditioned on. `m` has time_proj_dim, time_embedding and text_pooling."""
    t = timestep.reshape(-1).to(torch.float32).expand(batch)
    return m.time_embedding(timestep_embedding(t, m.time_proj_dim)) + m.text_pooling(ctx)


def encode_down_mid(m: nn.Module, h, emb, ctx):
    """The down blocks and mid block of a UNet (or its ControlNet copy) from conv_in's output `h`.
    Returns the mid-block output and the skip tensors (h, then every resnet / downsampler output)."""
    skips = [h]
    for blk in m.down_blocks:
        for j, r in enumerate(blk.resnets):
            h = r(h, emb)
            if len(blk.attentions):
                h = blk.attentions[j](h, ctx)
            skips.append(h)
        if hasattr(blk, 'downsamplers'):
            h = blk.downsamplers[0](h)
            skips.append(h)
    h = m.mid_block.resnets[0](h, emb)
    h = m.mid_block.attentions[0](h, ctx)
    return m.mid_block.resnets[1](h, emb), skips


class UNet2DConditionModel(nn.Module):
    def __init__(self, channels=(64, 96, 128), context_dim=128, head_dim=32, layers_per_block=1,
                 attention=(False, True, True), in_channels=4, out_channels=4):
        super().__init__()
        temb = channels[0] * 4
        self.config = dict(block_out_channels=list(channels), cross_attention_dim=context_dim,
                           down_block_types=[('CrossAttnDownBlock2D' if a else 'DownBlock2D') for a in attention],
                           up_block_types=[('CrossAttnUpBlock2D' if a else 'UpBlock2D') for a in reversed(attention)],
                           attention_head_dim=head_dim, layers_per_block=layers_per_block,
                           in_channels=in_channels, out_channels=out_channels, time_embedding_dim=temb)
        self.time_proj_dim = channels[0]
        self.conv_in = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.time_embedding = nn.Sequential()
        self.time_embedding.add_module('linear_1', nn.Linear(channels[0], temb))
        self.time_embedding.add_module('act', nn.SiLU())
        self.time_embedding.add_module('linear_2', nn.Linear(temb, temb))
        self.text_pooling = TextPooling(context_dim, temb)

        def heads(ch):
            return max(1, ch // head_dim)

        skips = [channels[0]]
        self.down_blocks = nn.ModuleList()
        cin = channels[0]
        for i, ch in enumerate(channels):
            blk = nn.Module()
            blk.resnets = nn.ModuleList()
            blk.attentions = nn.ModuleList()
            for _ in range(layers_per_block):
                blk.resnets.append(ResnetBlock2D(cin, ch, temb))
                if attention[i]:
                    blk.attentions.append(Transformer2DModel(ch, heads(ch), context_dim))
                cin = ch
                skips.append(ch)
            if i < len(channels) - 1:
                blk.downsamplers = nn.ModuleList([Downsample2D(ch)])
                skips.append(ch)
            self.down_blocks.append(blk)

        self.mid_block = nn.Module()
        self.mid_block.resnets = nn.ModuleList([ResnetBlock2D(cin, cin, temb), ResnetBlock2D(cin, cin, temb)])
        self.mid_block.attentions = nn.ModuleList([Transformer2DModel(cin, heads(cin), context_dim)])

        self.up_blocks = nn.ModuleList()
        for i, ch in enumerate(reversed(channels)):
            blk = nn.Module()
            blk.resnets = nn.ModuleList()
            blk.attentions = nn.ModuleList()
            for _ in range(layers_per_block + 1):
                blk.resnets.append(ResnetBlock2D(cin + skips.pop(), ch, temb))
                if attention[len(channels) - 1 - i]:
                    blk.attentions.append(Transformer2DModel(ch, heads(ch), context_dim))
                cin = ch
            if i < len(channels) - 1:
                blk.upsamplers = nn.ModuleList([Upsample2D(ch)])
            self.up_blocks.append(blk)
        self.conv_norm_out = _gn(cin)
        self.conv_out = nn.Conv2d(cin, out_channels, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states, down_block_additional_residuals=None,
                mid_block_additional_residual=None):
        """The optional residuals (ControlNet outputs, as in diffusers) are added to the skip tensors
        (conv_in output, then every down-block resnet / downsampler output, in order) and to the
        mid-block output."""
        ctx = encoder_hidden_states
        emb = conditioning_embedding(self, timestep, ctx, sample.shape[0])
        h, skips = encode_down_mid(self, self.conv_in(sample), emb, ctx)
        if down_block_additional_residuals is not None:
            if len(down_block_additional_residuals) != len(skips):
                raise ValueError(f'expected {len(skips)} down residuals, got {len(down_block_additional_residuals)}')
            skips = [s + r for s, r in zip(skips, down_block_additional_residuals)]
        if mid_block_additional_residual is not None:
            h = h + mid_block_additional_residual
        for blk in self.up_blocks:
            for j, r in enumerate(blk.resnets):
                h = r(torch.cat([h, skips.pop()], dim=1), emb)
                if len(blk.attentions):
                    h = blk.attentions[j](h, ctx)
            if hasattr(blk, 'upsamplers'):
                h = blk.upsamplers[0](h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


def skip_channels(unet: UNet2DConditionModel) -> list[int]:
    """Channels of the UNet's skip tensors in the order forward() stores them."""
    chans = [unet.conv_in.out_channels]
    for blk in unet.down_blocks:
        for r in blk.resnets:
            chans.append(r.conv2.out_channels)
        if hasattr(blk, 'downsamplers'):
            chans.append(blk.downsamplers[0].conv.out_channels)
    return chans


class ControlNetConditioningEmbedding(nn.Module):
    """Full-resolution RGB hint -> conv_in's channels at 1/8 resolution; the last conv starts at zero."""

    def __init__(self, out_channels: int, channels=(16, 32, 64, 128), in_channels: int = 3):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.blocks = nn.ModuleList()
        for a, b in zip(channels[:-1], channels[1:]):
            self.blocks.append(nn.Conv2d(a, a, 3, padding=1))
            self.blocks.append(nn.Conv2d(a, b, 3, padding=1, stride=2))
        self.conv_out = nn.Conv2d(channels[-1], out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x):
        h = F.silu(self.conv_in(x))
        for blk in self.blocks:
            h = F.silu(blk(h))
        return self.conv_out(h)


def _zero_conv(ch: int) -> nn.Conv2d:
    c = nn.Conv2d(ch, ch, 1)
    nn.init.zeros_(c.weight)
    nn.init.zeros_(c.bias)
    return c


class ControlNetModel(nn.Module):
    """diffusers' ControlNetModel for this UNet: a trainable copy of the encoder half (conv_in,
    time_embedding, text_pooling, down_blocks, mid_block) that also sees the hint, with zero-initialised
    1x1 convs producing one residual per UNet skip tensor and one for the mid block."""

    def __init__(self, unet: UNet2DConditionModel, embedding_channels=(16, 32, 64, 128)):
        super().__init__()
        import copy
        self.config = dict(unet.config, conditioning_embedding_out_channels=list(embedding_channels),
                           conditioning_channels=3, controlnet_conditioning_channel_order='rgb')
        self.time_proj_dim = unet.time_proj_dim
        self.conv_in = copy.deepcopy(unet.conv_in)
        self.time_embedding = copy.deepcopy(unet.time_embedding)
        self.text_pooling = copy.deepcopy(unet.text_pooling)
        self.controlnet_cond_embedding = ControlNetConditioningEmbedding(unet.conv_in.out_channels, embedding_channels)
        self.down_blocks = copy.deepcopy(unet.down_blocks)
        self.mid_block = copy.deepcopy(unet.mid_block)
        self.controlnet_down_blocks = nn.ModuleList([_zero_conv(c) for c in skip_channels(unet)])
        self.controlnet_mid_block = _zero_conv(unet.mid_block.resnets[-1].conv2.out_channels)

    def forward(self, sample, timestep, encoder_hidden_states, controlnet_cond, conditioning_scale=1.0):
        """controlnet_cond: [B, 3, 8h, 8w] in [0, 1]. Returns (down residuals..., mid residual)."""
        ctx = encoder_hidden_states
        emb = conditioning_embedding(self, timestep, ctx, sample.shape[0])
        h, skips = encode_down_mid(self, self.conv_in(sample) + self.controlnet_cond_embedding(controlnet_cond), emb, ctx)
        down = [c(s) * conditioning_scale for c, s in zip(self.controlnet_down_blocks, skips)]
        return tuple(down) + (self.controlnet_mid_block(h) * conditioning_scale,)


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
