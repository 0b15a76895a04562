#!/usr/bin/env python3
"""Writes test/fixtures/reference/guidance/rescale.json: classifier-free guidance and guidance_rescale
computed by PyTorch in float32, as diffusers' pipelines do (noise_uncond + scale * (noise_text -
noise_uncond), then the rescale of Lin et al. 2023, §3.4: std over every dimension but the batch,
torch's default unbiased std). Reference for src/engine/pipeline (guide, rescaleGuided). Run with
Debian's torch (tools only):
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.reference.make_guidance_fixtures
Inputs come from seeded torch.randn, so the fixture can be regenerated exactly; values are stored as
base64 of little-endian float32.
"""
import base64
import json
import os

import torch

torch.set_num_threads(1)
OUT = os.path.join('test', 'fixtures', 'reference', 'guidance', 'rescale.json')
CASES = [
    # (seed, shape, guidance scale, guidance_rescale)
    (0, [1, 4, 8, 8], 7.5, 0.7),
    (1, [1, 4, 16, 12], 12.0, 1.0),
    (2, [1, 4, 8, 8], 3.0, 0.3),
]


def b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.contiguous().to(torch.float32).numpy().tobytes()).decode('ascii')


def main() -> None:
    cases = []
    for seed, shape, scale, rescale in CASES:
        g = torch.Generator().manual_seed(seed)
        uncond = torch.randn(shape, generator=g)
        text = torch.randn(shape, generator=g) * 1.3 + 0.1
        guided = uncond + scale * (text - uncond)
        dims = list(range(1, text.ndim))
        std_text = text.std(dim=dims, keepdim=True)
        std_cfg = guided.std(dim=dims, keepdim=True)
        rescaled = guided * (std_text / std_cfg)
        out = rescale * rescaled + (1 - rescale) * guided
        cases.append({'seed': seed, 'shape': shape, 'guidance': scale, 'guidanceRescale': rescale,
                      'uncond': b64(uncond), 'cond': b64(text), 'guided': b64(guided), 'rescaled': b64(out)})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump({'torch': torch.__version__, 'cases': cases}, f, indent=1)
        f.write('\n')
    print(f'wrote {OUT}: {len(cases)} cases')


if __name__ == '__main__':
    main()
