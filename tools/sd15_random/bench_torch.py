"""PyTorch side of `npm run bench:scale` (scripts/bench-scale.ts).

    python3 -m tools.sd15_random.bench_torch matmul-graph OUT N
        writes a one-node MatMul graph (float32 [N,N] x [N,N]) to OUT
    python3 -m tools.sd15_random.bench_torch unet --scale S --seed K --sizes 64x64,32x32 --batch 2 --runs R --threads T
        rebuilds the UNet with make_model.py's seeded random weights (the same weights as the ONNX export)
        and prints JSON: median eager milliseconds per UNet call per latent size, and torch.mm GFLOPS
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from . import sd15


def matmul_graph(out: str, n: int) -> None:
    import onnx
    from onnx import TensorProto, helper
    a = helper.make_tensor_value_info('a', TensorProto.FLOAT, [n, n])
    b = helper.make_tensor_value_info('b', TensorProto.FLOAT, [n, n])
    c = helper.make_tensor_value_info('c', TensorProto.FLOAT, [n, n])
    graph = helper.make_graph([helper.make_node('MatMul', ['a', 'b'], ['c'])], 'matmul', [a, b], [c])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 8
    onnx.save(model, out)


def timed(fn, runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def unet_bench(a) -> dict:
    torch.set_num_threads(a.threads)
    unet = sd15.build(a.scale, a.seed)['unet']
    ctx_dim = sd15.SCALES[a.scale]['unet']['cross_attention_dim']
    g = torch.Generator().manual_seed(0)
    result = {'threads': a.threads, 'unet_ms': {}}
    with torch.no_grad():
        for size in a.sizes.split(','):
            h, w = (int(x) for x in size.split('x'))
            sample = torch.randn(a.batch, 4, h, w, generator=g)
            t = torch.full((a.batch,), 999, dtype=torch.int64)
            ctx = torch.randn(a.batch, 77, ctx_dim, generator=g)
            result['unet_ms'][size] = timed(lambda: unet(sample, t, ctx), a.runs)
        n = 2048
        x = torch.randn(n, n, generator=g)
        y = torch.randn(n, n, generator=g)
        result['mm_gflops'] = 2 * n ** 3 / timed(lambda: torch.mm(x, y), max(a.runs, 5)) / 1e6
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='cmd', required=True)
    m = sub.add_parser('matmul-graph')
    m.add_argument('out')
    m.add_argument('n', type=int)
    u = sub.add_parser('unet')
    u.add_argument('--scale', choices=sorted(sd15.SCALES), required=True)
    u.add_argument('--seed', type=int, required=True)
    u.add_argument('--sizes', default='64x64,32x32')
    u.add_argument('--batch', type=int, default=2)
    u.add_argument('--runs', type=int, default=3)
    u.add_argument('--threads', type=int, default=1)
    a = ap.parse_args()
    if a.cmd == 'matmul-graph':
        matmul_graph(a.out, a.n)
    else:
        print(json.dumps(unet_bench(a)))


if __name__ == '__main__':
    main()
