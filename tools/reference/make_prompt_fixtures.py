#!/usr/bin/env python3
"""Writes test/fixtures/reference/prompt/: reference hidden states of the embedded model's text encoder.

emphasis.json: the embedded model's text encoder
(models/tiny-shapes) run in PyTorch float32 on weighted prompts, with A1111's default emphasis rule
("Original", sd_hijack_clip.process_tokens): each fragment of the prompt is tokenized on its own, its
tokens carry its weight (BOS, EOS and padding 1), the hidden states are multiplied by the weights and
rescaled to the unweighted mean. The fragments are written out here as A1111's parse_prompt_attention
returns them for each prompt (the engine's parser is tested against A1111's own examples separately).

clip_skip.json: A1111's clip skip N (sd_hijack_clip.FrozenCLIPEmbedderWithCustomWords.encode_with_transformers:
hidden_states[-N] of a run with output_hidden_states, then the final layer norm), for N = 1, 2, 3 and
5 (5 = the embeddings of this 4-layer encoder), with the tiny model's own post-processing after the norm
(positions after the first EOS carry the EOS state) applied as its forward applies it; and one weighted
prompt with clip skip 2 (the weights apply to the clip-skipped states, as in A1111).

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


CLIP_SKIP_PROMPTS = ['a red circle on the left, blue background', '', 'large white square at the bottom right; black background']
CLIP_SKIPS = [1, 2, 3, 5]


def hidden_states(te: TextEncoder, ids: torch.Tensor) -> list[torch.Tensor]:
    """What transformers' output_hidden_states gives: the embeddings, then the output of every layer."""
    tm = te.text_model
    n = ids.shape[1]
    x = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding.weight[:n].unsqueeze(0)
    states = [x]
    for layer in tm.encoder.layers:
        x = layer(x, tm.causal_mask[:n, :n])
        states.append(x)
    return states


def clip_skip_encode(te: TextEncoder, ids: torch.Tensor, n: int) -> torch.Tensor:
    z = te.text_model.final_layer_norm(hidden_states(te, ids)[-n])
    # models/tiny-shapes' own tail (TextEncoder.forward): positions after the first EOS carry its state.
    eos = ids.argmax(dim=-1)
    pooled = z[torch.arange(z.shape[0]), eos]
    after = torch.arange(z.shape[1])[None, :] > eos[:, None]
    return torch.where(after[:, :, None], pooled[:, None, :], z)


@torch.no_grad()
def clip_skip_cases(tok: clip_bpe.Tokenizer, te: TextEncoder) -> list[dict]:
    ids = torch.tensor([tok(p) for p in CLIP_SKIP_PROMPTS])
    # clip skip 1 is the export's last_hidden_state: the module's own forward must agree.
    assert torch.equal(clip_skip_encode(te, ids, 1), te(ids)[0])
    cases = []
    for n in CLIP_SKIPS:
        z = clip_skip_encode(te, ids, n)
        cases.append({'clip_skip': n, 'prompts': CLIP_SKIP_PROMPTS, 'input_ids': ids.tolist(), 'shape': list(z.shape),
                      'hidden_states': b64(z)})
    prompt, fragments = EMPHASIS_CASES[0]
    weighted, weights = weighted_ids(tok, fragments)
    z = clip_skip_encode(te, torch.tensor([weighted]), 2)
    multipliers = torch.tensor([weights], dtype=torch.float32)
    original_mean = z.mean()
    z = z * multipliers.reshape(multipliers.shape + (1,)).expand(z.shape)
    z = z * (original_mean / z.mean())
    cases.append({'clip_skip': 2, 'prompts': [prompt], 'input_ids': [weighted], 'weights': weights,
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
    path = os.path.join(OUT, 'clip_skip.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump({'generated_by': 'tools/reference/make_prompt_fixtures.py', 'torch': torch.__version__,
                   'model': MODEL, 'rule': 'A1111 clip skip N: final_layer_norm(hidden_states[-N]), then the '
                   "model's own tail (EOS state after the first EOS)",
                   'tolerance_abs': 1e-4, 'cases': clip_skip_cases(tok, te)}, f, indent=1)
        f.write('\n')
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
