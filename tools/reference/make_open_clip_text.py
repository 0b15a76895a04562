#!/usr/bin/env python3
"""Writes a torch reference for the OpenCLIP text graph (src/engine/checkpoint/convert/openClipTextGraph.ts):
a small seeded text tower laid out as open_clip's TextTransformer (token_embedding, positional_embedding,
transformer.resblocks.N.{ln_1, attn (torch's nn.MultiheadAttention: fused in_proj_weight/in_proj_bias,
out_proj), ln_2, mlp.c_fc, GELU, mlp.c_proj}, ln_final, text_projection [width, projection]), run by
torch's own modules with open_clip's causal mask (-inf above the diagonal), and what the two ways Stable
Diffusion uses such a tower compute:

- penultimate (SD 2.x's FrozenOpenCLIPEmbedder, layer="penultimate"): every block but the last, then ln_final;
- all + projection (SDXL's second encoder): hidden states after the embeddings and after each block
  (no ln_final), ln_final of the last, and text_embeds = ln_final(x)[argmax(ids)] @ text_projection.

Writes into --out: open_clip_text.safetensors (the tower under --prefix, float32, plus a tensor outside
it), reference.json (ids and outputs as base64 little-endian float32 with dims). Run from the repository
root with Debian's torch (tools only):
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.reference.make_open_clip_text --out DIR
Deterministic: same seed and sizes, same files.
"""
from __future__ import annotations

import argparse
import base64
import json
import os

import torch
from torch import nn

from tools.sd15_random import safetensors_file as st


class ResBlock(nn.Module):
    def __init__(self, width: int, heads: int, mlp: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module('c_fc', nn.Linear(width, mlp))
        self.mlp.add_module('gelu', nn.GELU())
        self.mlp.add_module('c_proj', nn.Linear(mlp, width))

    def forward(self, x, mask):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, heads: int, layers: int, mlp: int):
        super().__init__()
        self.resblocks = nn.ModuleList([ResBlock(width, heads, mlp) for _ in range(layers)])


class TextTower(nn.Module):
    def __init__(self, vocab: int, context: int, width: int, heads: int, layers: int, projection: int):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(torch.empty(context, width))
        self.transformer = Transformer(width, heads, layers, 4 * width)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, projection))

    def forward(self, ids):
        n = ids.shape[1]
        mask = torch.full((n, n), float('-inf')).triu_(1)
        x = self.token_embedding(ids) + self.positional_embedding[:n]
        states = [x]
        for block in self.transformer.resblocks:
            x = block(x, mask)
            states.append(x)
        return states


def tensor_json(t: torch.Tensor) -> dict:
    data = t.detach().to(torch.float32).contiguous().numpy().astype('<f4').tobytes()
    return {'dims': list(t.shape), 'data': base64.b64encode(data).decode('ascii')}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument('--out', required=True)
    p.add_argument('--seed', type=int, default=7)
    p.add_argument('--vocab', type=int, default=300)
    p.add_argument('--context', type=int, default=12)
    p.add_argument('--width', type=int, default=128)
    p.add_argument('--heads', type=int, default=2)
    p.add_argument('--layers', type=int, default=3)
    p.add_argument('--projection', type=int, default=96)
    p.add_argument('--prefix', default='cond_stage_model.model.')
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(2)
    tower = TextTower(a.vocab, a.context, a.width, a.heads, a.layers, a.projection)
    with torch.no_grad():
        # Every parameter away from its default (norms too), with magnitudes that keep activations O(1).
        for name, param in tower.named_parameters():
            if name.endswith('ln_1.weight') or name.endswith('ln_2.weight') or name.startswith('ln_final.weight'):
                param.copy_(1 + 0.2 * torch.randn_like(param))
            elif param.dim() == 1:
                param.copy_(0.1 * torch.randn_like(param))
            else:
                param.copy_(torch.randn_like(param) / param.shape[-1] ** 0.5)
        # Rows of different lengths; the end-of-text token (the largest id) marks each row's end, padded with it (SD 1.x) or 0 (SD 2.x).
        eot = a.vocab - 1
        ids = torch.tensor([
            [eot - 1, 5, 17, 200, eot] + [eot] * (a.context - 5),
            [eot - 1, 42, eot] + [0] * (a.context - 3),
        ])
        states = tower(ids)
        final = tower.ln_final(states[-1])
        penultimate = tower.ln_final(states[-2])
        pooled = final[torch.arange(ids.shape[0]), ids.argmax(dim=-1)]
        text_embeds = pooled @ tower.text_projection
        penultimate_pooled = penultimate[torch.arange(ids.shape[0]), ids.argmax(dim=-1)]

    os.makedirs(a.out, exist_ok=True)
    entries = [st.entry(a.prefix + k, v) for k, v in tower.state_dict().items()]
    entries.append(st.entry('model.diffusion_model.unrelated.weight', torch.zeros(2, 2)))
    st.write(os.path.join(a.out, 'open_clip_text.safetensors'), entries)
    reference = {
        'prefix': a.prefix,
        'sizes': {'vocab': a.vocab, 'context': a.context, 'width': a.width, 'heads': a.heads, 'layers': a.layers, 'projection': a.projection},
        'ids': ids.tolist(),
        'hidden_states': [tensor_json(s) for s in states],
        'last_hidden_state': tensor_json(final),
        'text_embeds': tensor_json(text_embeds),
        'penultimate_hidden_state': tensor_json(penultimate),
        'penultimate_pooled': tensor_json(penultimate_pooled),
    }
    with open(os.path.join(a.out, 'reference.json'), 'w', encoding='utf-8') as f:
        json.dump(reference, f)


if __name__ == '__main__':
    main()
