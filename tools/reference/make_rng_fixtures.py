#!/usr/bin/env python3
"""Writes test/fixtures/reference/rng/torch_randn.json: exact float32 bits of torch.randn on the CPU.

Reference for src/engine/rng (TorchCPUGenerator). Run with Debian's torch (tools only, never at run time):
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.reference.make_rng_fixtures
Each case seeds a fresh torch.Generator and draws one or more tensors in sequence from it, so the
fixtures also pin how a stream continues across calls (ancestral noise after the initial noise) and
the Box-Muller cache of the small-tensor path. Small tensors store every value as base64 of
little-endian float32; large ones store a SHA-256 of those bytes plus their first 16 and last 32 values.
"""
import base64
import hashlib
import json
import os
import platform
import sys

import torch

torch.set_num_threads(1)

SEEDS = [0, 1, 42, 2**31 - 1, 2**32 - 1, 2**32 + 5, 2**63 + 12345, 2**64 - 1]
SHAPES = [[1], [7], [15], [16], [17], [31], [64], [1, 4, 16, 16], [2, 4, 20, 12]]
# Consecutive draws from one generator: small after small (the cached sine), large after small,
# small after large, large after large with a ragged tail.
SEQUENCES = [
    [[1], [1]],
    [[3], [16]],
    [[3], [5], [1]],
    [[16], [1]],
    [[1], [20], [1]],
    [[1, 4, 16, 16], [1, 4, 16, 16]],
    [[1, 4, 16, 16], [2, 4, 20, 12]],
    [[17], [33], [7]],
]
LARGE_SHAPES = [[1, 4, 64, 64], [2, 4, 96, 64]]
INLINE_LIMIT = 1024


def encode(t: torch.Tensor) -> dict:
    raw = t.contiguous().to(torch.float32).numpy().astype('<f4').tobytes()
    entry = {'shape': list(t.shape)}
    if t.numel() <= INLINE_LIMIT:
        entry['f32le_base64'] = base64.b64encode(raw).decode('ascii')
    else:
        entry['sha256'] = hashlib.sha256(raw).hexdigest()
        entry['head_f32le_base64'] = base64.b64encode(raw[: 16 * 4]).decode('ascii')
        entry['tail_f32le_base64'] = base64.b64encode(raw[-32 * 4 :]).decode('ascii')
    return entry


def draw(seed: int, shapes: list) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {'seed': str(seed), 'draws': [encode(torch.randn(s, generator=gen)) for s in shapes]}


def main() -> None:
    cases = []
    for seed in SEEDS:
        for shape in SHAPES:
            cases.append(draw(seed, [shape]))
    for seed in [0, 42, 2**64 - 1]:
        for seq in SEQUENCES:
            cases.append(draw(seed, seq))
    for seed in [0, 123456789]:
        for shape in LARGE_SHAPES:
            cases.append(draw(seed, [shape]))
    out = {
        'generator': 'torch.randn(shape, generator=torch.Generator().manual_seed(seed)), float32, CPU',
        'torch': torch.__version__,
        'machine': platform.machine(),
        # normal_fill takes torch's AVX2 kernel (avx_mathfun.h polynomials) on x86-64 with AVX2.
        'cpu_capability': 'AVX2' if 'CPU capability usage: AVX2' in torch.__config__.show() else 'other',
        'cases': cases,
    }
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(root, 'test', 'fixtures', 'reference', 'rng', 'torch_randn.json')
    # One case per line keeps the file small and its diffs readable.
    header = {k: v for k, v in out.items() if k != 'cases'}
    lines = [json.dumps(header)[:-1] + ', "cases": [']
    lines += [json.dumps(c, separators=(',', ':')) + (',' if i + 1 < len(cases) else '') for i, c in enumerate(cases)]
    lines.append(']}')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'wrote {len(cases)} cases to {os.path.relpath(path, root)}', file=sys.stderr)


if __name__ == '__main__':
    main()
