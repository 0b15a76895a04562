"""PyTorch eager on the same tiny-shapes weights and the same algorithm as the engine (Euler, CFG batch 2,
native size), timed for `npm run bench`. Prints one JSON line: median render and UNet-call times.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.bench_torch --steps 20 --runs 9
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from . import export
from .sample import generate

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--runs', type=int, default=9)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--weights', default=os.path.join(HERE, 'checkpoints', 'latest.pt'),
                    help='a packed checkpoint (pack.py) or a training work folder')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tok, te, unet, vae, scaling, _ = export.load_components(args.weights)
    prompt = 'a large red circle on the left, blue background'

    # Time the UNet calls inside the same renders by wrapping its forward.
    calls: list[float] = []
    forward = unet.forward

    def timed(*a, **k):
        t = time.perf_counter()
        out = forward(*a, **k)
        calls.append((time.perf_counter() - t) * 1000)
        return out

    unet.forward = timed
    generate(tok, te, unet, vae, scaling, [prompt], [42], (128, 128), args.steps, 7.5)  # warm-up
    calls.clear()
    totals = []
    for _ in range(args.runs):
        t = time.perf_counter()
        generate(tok, te, unet, vae, scaling, [prompt], [42], (128, 128), args.steps, 7.5)
        totals.append((time.perf_counter() - t) * 1000)
    print(json.dumps({'median_ms': statistics.median(totals), 'unet_call_ms': statistics.median(calls),
                      'threads': args.threads, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
