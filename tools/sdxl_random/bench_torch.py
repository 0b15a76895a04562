"""PyTorch side of `npm run bench:scale -- --family sdxl` (scripts/bench-scale-sdxl.ts).

    python3 -m tools.sdxl_random.bench_torch --scale S --seed K --size 128x128 --batch 2 --runs R --threads T

rebuilds the SDXL UNet with make_model.py's seeded random weights (the same weights as the ONNX export)
and prints JSON: the median eager milliseconds of one UNet call at the latent size, and torch.mm GFLOPS.
Run it after the ONNX side, not beside it: a full-size SDXL UNet is ~10 GB in float32.
"""
from __future__ import annotations

import argparse
import json

import torch

from tools.sd15_random.bench_torch import timed

from . import sdxl


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--scale', choices=sorted(sdxl.SCALES), required=True)
    ap.add_argument('--seed', type=int, required=True)
    ap.add_argument('--size', default='128x128')
    ap.add_argument('--batch', type=int, default=2)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--half-rounded', action='store_true', help='the weights of make_model --only checkpoints (float16-rounded)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    c = sdxl.SCALES[a.scale]
    nets = sdxl.build(a.scale, a.seed, half_rounded=a.half_rounded)
    unet = nets['unet']
    del nets  # the encoders and the VAE (~3.3 GB at full size) are not timed
    g = torch.Generator().manual_seed(0)
    h, w = (int(x) for x in a.size.split('x'))
    with torch.no_grad():
        sample = torch.randn(a.batch, 4, h, w, generator=g)
        t = torch.full((a.batch,), 999, dtype=torch.int64)
        ctx = torch.randn(a.batch, 77, c['unet']['cross_attention_dim'], generator=g)
        pooled = torch.randn(a.batch, c['text2']['projection_dim'], generator=g)
        ids = torch.tensor([[h * 8.0, w * 8.0, 0.0, 0.0, h * 8.0, w * 8.0]] * a.batch)
        unet_ms = timed(lambda: unet(sample, t, ctx, pooled, ids), a.runs)
        n = 2048
        x = torch.randn(n, n, generator=g)
        y = torch.randn(n, n, generator=g)
        mm = 2 * n ** 3 / timed(lambda: torch.mm(x, y), max(a.runs, 5)) / 1e6
    print(json.dumps({'threads': a.threads, 'unet_ms': unet_ms, 'mm_gflops': mm}))


if __name__ == '__main__':
    main()
