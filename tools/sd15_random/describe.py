"""Describes the networks make_model.py builds, from the PyTorch modules themselves, as independent
references for the engine-side tests:

- flops: FLOPs of one UNet call, from the shapes every layer actually sees when run (same conventions
  as the analytic count in test/scale/sd15Random.ts: 2 per multiply-add; convolutions, linear layers and
  the two attention matmuls; no biases, norms, activations);
- modules: the dotted paths of every Linear and Conv2d of the UNet and the text encoder, the names
  LoRA keys use;
- tokens (with --tokenizer DIR and --prompt TEXT, repeatable): the 77 ids of each prompt from the
  Python CLIP tokenizer of tools/tiny_model/clip_bpe.py reading DIR's vocab.json and merges.txt.

    python3 -m tools.sd15_random.describe --scale toy --height 32 --width 32 --batch 2
        -> prints JSON {"flops": {...}, "modules": {...}}

The toy scale runs on real (random) weights; --scale full is run on the 'meta' device (shapes only, no
weights, no arithmetic), so it needs neither the memory nor the time of the full model.
"""
from __future__ import annotations

import argparse
import json

import torch
from torch import nn

from tools.tiny_model import clip_bpe

from . import sd15


def count(unet: nn.Module, sample, timestep, context) -> dict:
    totals = {'conv': 0, 'linear': 0, 'attention': 0}

    def on_conv(m: nn.Conv2d, _inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        totals['conv'] += 2 * out.numel() * k * m.in_channels // m.groups

    def on_linear(m: nn.Linear, inp, _out):
        totals['linear'] += 2 * (inp[0].numel() // m.in_features) * m.in_features * m.out_features

    def on_attention(_m, inp, _out):
        x = inp[0]
        ctx = inp[1] if len(inp) > 1 and inp[1] is not None else x
        b, n, d = x.shape
        totals['attention'] += 2 * (2 * b * n * ctx.shape[1] * d)

    for m in unet.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(on_conv)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(on_linear)
        elif isinstance(m, sd15.Attention):
            m.register_forward_hook(on_attention)
    with torch.no_grad():
        unet(sample, timestep, context)
    return {'total': sum(totals.values()), **totals}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--scale', choices=sorted(sd15.SCALES), default='toy')
    ap.add_argument('--height', type=int, default=64)
    ap.add_argument('--width', type=int, default=64)
    ap.add_argument('--batch', type=int, default=2)
    ap.add_argument('--tokenizer', help='a tokenizer folder (vocab.json, merges.txt)')
    ap.add_argument('--prompt', action='append', default=[])
    a = ap.parse_args()
    torch.set_num_threads(1)
    c = sd15.SCALES[a.scale]['unet']
    device = 'meta' if a.scale == 'full' else 'cpu'
    text_encoder = None
    if device == 'meta':
        real_empty = torch.empty

        def meta_empty(*args, **kwargs):
            if kwargs.get('device') is None:
                kwargs['device'] = 'meta'
            return real_empty(*args, **kwargs)

        torch.empty = meta_empty
        try:
            unet = sd15.UNet2DConditionModel(c)
            text_encoder = sd15.CLIPTextModel(sd15.SCALES[a.scale]['text'])
        finally:
            torch.empty = real_empty
    else:
        nets = sd15.build(a.scale, 0)
        unet, text_encoder = nets['unet'], nets['text_encoder']
    sample = torch.zeros(a.batch, 4, a.height, a.width, device=device)
    timestep = torch.full((a.batch,), 999, dtype=torch.int64, device=device)
    context = torch.zeros(a.batch, 77, c['cross_attention_dim'], device=device)
    modules = {name: [n for n, m in net.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
               for name, net in (('unet', unet), ('text_encoder', text_encoder))}
    out = {'flops': count(unet, sample, timestep, context), 'modules': modules}
    if a.tokenizer:
        tok = clip_bpe.Tokenizer.load(a.tokenizer)
        out['tokens'] = [tok(p) for p in a.prompt]
    print(json.dumps(out))


if __name__ == '__main__':
    main()
