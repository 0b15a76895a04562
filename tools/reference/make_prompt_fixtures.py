#!/usr/bin/env python3
"""Writes test/fixtures/reference/prompt/emphasis.json: the embedded model's text encoder
(models/tiny-shapes) run in PyTorch float32 on weighted prompts, with A1111's default emphasis rule
("Original", sd_hijack_clip.process_tokens): each fragment of the prompt is tokenized on its own, its
tokens carry its weight (BOS, EOS and padding 1), the hidden states are multiplied by the weights and
rescaled to the unweighted mean. The fragments are written out here as A1111's parse_prompt_attention
returns them for each prompt (the engine's parser is tested against A1111's own examples separately).

Weights come from the ONNX export's initializers (tools/reference/onnx_weights.py), so the fixture
describes exactly the model the engine runs, with or without the training checkpoint. Run with Debian's
torch (tools only):
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.reference.make_prompt_fixtures
"""
from __future__ import annotations

import base64
import json
import os

import torch

from tools.reference.onnx_weights import text_encoder_state_dict
from tools.tiny_model import clip_bpe
from tools.tiny_model.models import TextEncoder

torch.set_num_threads(1)
MODEL = os.path.join('models', 'tiny-shapes')
OUT = os.path.join('test', 'fixtures', 'reference', 'prompt')

EMPHASIS_CASES = [
    ('a (red:1.5) circle on the left, [[blue]] background',
     [('a ', 1.0), ('red', 1.5), (' circle on the left, ', 1.0), ('blue', (1 / 1.1) * (1 / 1.1)), (' background', 1.0)]),
    ('((large)) white (square:0.8) at the bottom right; black background',
     [('large', 1.1 * 1.1), (' white ', 1.0), ('square', 0.8), (' at the bottom right; black background', 1.0)]),
    # 'purplish' is not one token of this vocabulary: every piece of it carries the weight.
    ('a (purplish:1.3) triangle', [('a ', 1.0), ('purplish', 1.3), (' triangle', 1.0)]),
]


def b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.contiguous().to(torch.float32).numpy().tobytes()).decode('ascii')


def load_text_encoder() -> tuple[clip_bpe.Tokenizer, TextEncoder]:
    tok = clip_bpe.Tokenizer.load(os.path.join(MODEL, 'tokenizer'))
    with open(os.path.join(MODEL, 'text_encoder', 'config.json'), encoding='utf-8') as f:
        c = json.load(f)
    te = TextEncoder(c['vocab_size'], c['hidden_size'], c['num_hidden_layers'], c['num_attention_heads'],
                     c['intermediate_size'], c['max_position_embeddings'])
    te.load_state_dict(text_encoder_state_dict(os.path.join(MODEL, 'text_encoder', 'model.onnx')))
    return tok, te.eval()


def weighted_ids(tok: clip_bpe.Tokenizer, fragments: list[tuple[str, float]]) -> tuple[list[int], list[float]]:
    ids, weights = [], []
    for text, weight in fragments:
        piece = tok.tokenize(text)
        ids += piece
        weights += [weight] * len(piece)
    ids, weights = ids[:clip_bpe.MAX_LENGTH - 2], weights[:clip_bpe.MAX_LENGTH - 2]
    ids = [tok.bos_id] + ids + [tok.eos_id]
    weights = [1.0] + weights + [1.0]
    pad = clip_bpe.MAX_LENGTH - len(ids)
    return ids + [tok.eos_id] * pad, weights + [1.0] * pad


@torch.no_grad()
def emphasis_cases(tok: clip_bpe.Tokenizer, te: TextEncoder) -> list[dict]:
    cases = []
    for prompt, fragments in EMPHASIS_CASES:
        ids, weights = weighted_ids(tok, fragments)
        z = te(torch.tensor([ids]))[0]
        multipliers = torch.tensor([weights], dtype=torch.float32)
        original_mean = z.mean()
        z = z * multipliers.reshape(multipliers.shape + (1,)).expand(z.shape)
        new_mean = z.mean()
        z = z * (original_mean / new_mean)
        cases.append({'prompt': prompt, 'fragments': fragments, 'input_ids': ids, 'weights': weights,
                      'shape': list(z.shape), 'hidden_states': b64(z)})
    return cases


def main() -> None:
    tok, te = load_text_encoder()
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, 'emphasis.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump({'generated_by': 'tools/reference/make_prompt_fixtures.py', 'torch': torch.__version__,
                   'model': MODEL, 'rule': 'A1111 Original: z * w per token, then z * (mean(z) / mean(z * w))',
                   # float32 on both sides; onnxruntime vs torch on this encoder differs by about 1e-6.
                   'tolerance_abs': 1e-4, 'cases': emphasis_cases(tok, te)}, f, indent=1)
        f.write('\n')
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
