#!/usr/bin/env python3
"""Writes two small CLIP text encoders laid out as Hugging Face's CLIPTextModel exports them (optimum):
pre-norm layers (attention, then MLP, each added to the residual stream), a final layer norm whose output
is last_hidden_state, and pooler_output gathered from last_hidden_state at the first EOS. One is exported
at opset 17 (a LayerNormalization node), one at opset 14 (the norm decomposed into ReduceMean, Sub, Pow,
Sqrt, Div, Mul, Add). With each, reference.json holds, for clip skip N = 1 .. layers + 1,
final_layer_norm(hidden_states[-N]) as transformers' output_hidden_states gives hidden_states (A1111's
clip skip), and the pooled output (from the last layer, whatever N).

Seeded random weights; run with Debian's torch (tools only; torch.onnx.export needs no onnx package):
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.reference.make_clip_skip_models
Output: test/fixtures/reference/prompt/clip_hf_opset{14,17}/{model.onnx,reference.json}.
"""
from __future__ import annotations

import base64
import json
import os

import torch
from torch import nn

from tools.tiny_model.models import CLIPEncoderLayer

torch.set_num_threads(1)
OUT = os.path.join('test', 'fixtures', 'reference', 'prompt')
VOCAB, WIDTH, HEADS, HIDDEN, LAYERS, POSITIONS = 64, 16, 2, 32, 3, 8
EOS = VOCAB - 1
IDS = [[0, 5, 9, EOS, EOS, EOS, EOS, EOS], [0, 2, 3, 4, 5, 6, 7, EOS]]


class HFStyleTextEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.token_embedding = nn.Embedding(VOCAB, WIDTH)
        self.position_embedding = nn.Parameter(torch.randn(POSITIONS, WIDTH) * 0.1)
        self.layers = nn.ModuleList([CLIPEncoderLayer(WIDTH, HEADS, HIDDEN) for _ in range(LAYERS)])
        self.final_layer_norm = nn.LayerNorm(WIDTH)
        self.register_buffer('mask', torch.full((POSITIONS, POSITIONS), float('-inf')).triu(1), persistent=False)

    def hidden_states(self, ids):
        x = self.token_embedding(ids) + self.position_embedding[None]
        states = [x]
        for layer in self.layers:
            x = layer(x, self.mask)
            states.append(x)
        return states

    def forward(self, ids):
        last = self.final_layer_norm(self.hidden_states(ids)[-1])
        pooled = last[torch.arange(last.shape[0]), ids.argmax(dim=-1)]
        return last, pooled


def b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.detach().contiguous().to(torch.float32).numpy().tobytes()).decode('ascii')


@torch.no_grad()
def main() -> None:
    torch.manual_seed(16)
    model = HFStyleTextEncoder().eval()
    for p in model.parameters():
        p.add_(torch.randn_like(p) * 0.05)  # layer norms away from 1 and 0, so a missing norm shows
    ids = torch.tensor(IDS, dtype=torch.int64)
    last, pooled = model(ids)
    states = model.hidden_states(ids)
    skips = [{'clip_skip': n, 'last_hidden_state': b64(model.final_layer_norm(states[-n]))} for n in range(1, LAYERS + 2)]
    for opset in (14, 17):
        folder = os.path.join(OUT, f'clip_hf_opset{opset}')
        os.makedirs(folder, exist_ok=True)
        torch.onnx.export(model, (ids,), os.path.join(folder, 'model.onnx'), opset_version=opset,
                          input_names=['input_ids'], output_names=['last_hidden_state', 'pooler_output'],
                          dynamic_axes={'input_ids': {0: 'batch'}, 'last_hidden_state': {0: 'batch'}, 'pooler_output': {0: 'batch'}})
        with open(os.path.join(folder, 'reference.json'), 'w', encoding='utf-8') as f:
            json.dump({'generated_by': 'tools/reference/make_clip_skip_models.py', 'torch': torch.__version__,
                       'opset': opset, 'layers': LAYERS, 'input_ids': IDS, 'shape': list(last.shape),
                       'pooler_output': b64(pooled), 'clip_skips': skips, 'tolerance_abs': 1e-5}, f, indent=1)
            f.write('\n')
        print(f'wrote {folder}')


if __name__ == '__main__':
    main()
