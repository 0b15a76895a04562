"""ControlNet hint preprocessors (canny, scribble) in numpy: the twin of src/engine/control/canny.ts and
scribble.ts, step for step, so a ControlNet trained on these hints sees the same hints from the engine.

Both sides compute in exact integers held in float64 up to the gradient, then only IEEE-exact operations
(+, -, *, comparisons) in the same order, so their masks agree bit for bit. The steps are documented at
the top of canny.ts and scribble.ts.

    /usr/bin/python3 -m tools.tiny_model.hints --make-fixtures   # writes test/fixtures/reference/hints/
    /usr/bin/python3 -m tools.tiny_model.hints --bench           # time per 128x128 image
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(REPO, 'test', 'fixtures', 'reference', 'hints')

TAN_22_5 = math.sqrt(2.0) - 1
TAN_67_5 = math.sqrt(2.0) + 1


def luma_thousandths(rgb: np.ndarray) -> np.ndarray:
    """299 R + 587 G + 114 B as float64 [H, W] (exact integers: 1000 x the 0.299/0.587/0.114 luma)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f'expected uint8 RGB [H, W, 3], got {rgb.dtype} {rgb.shape}')
    c = rgb.astype(np.float64)
    return 299 * c[:, :, 0] + 587 * c[:, :, 1] + 114 * c[:, :, 2]


def gaussian_taps(sigma: float) -> list[int]:
    r = math.floor(1.5 * sigma + 0.5)
    return [4096 if d == 0 else math.floor(4096 * math.exp(-(d * d) / (2 * sigma * sigma)) + 0.5) for d in range(-r, r + 1)]


def _blur(src: np.ndarray, taps: list[int]) -> np.ndarray:
    r = (len(taps) - 1) // 2
    h, w = src.shape
    p = np.pad(src, ((0, 0), (r, r)), mode='edge')
    tmp = np.zeros_like(src)
    for i, k in enumerate(taps):
        tmp += k * p[:, i:i + w]
    p = np.pad(tmp, ((r, r), (0, 0)), mode='edge')
    out = np.zeros_like(src)
    for i, k in enumerate(taps):
        out += k * p[i:i + h, :]
    return out


def canny(rgb: np.ndarray, low: float = 100, high: float = 200, sigma: float = 1.4) -> np.ndarray:
    """Canny edges of uint8 RGB [H, W, 3]: uint8 [H, W], 255 on edges, 0 elsewhere."""
    if not (low >= 0 and high >= low and 0 <= sigma <= 4):
        raise ValueError(f'bad canny parameters low={low} high={high} sigma={sigma}')
    taps = gaussian_taps(sigma)
    b = _blur(luma_thousandths(rgb), taps)
    h, w = b.shape
    p = np.pad(b, 1, mode='edge')
    up, mid, down = p[:-2], p[1:-1], p[2:]
    # Same operand order as canny.ts (the values are exact integers, so order only matters for mag2).
    gx = (up[:, 2:] + 2 * mid[:, 2:] + down[:, 2:]) - (up[:, :-2] + 2 * mid[:, :-2] + down[:, :-2])
    gy = (down[:, :-2] + 2 * down[:, 1:-1] + down[:, 2:]) - (up[:, :-2] + 2 * up[:, 1:-1] + up[:, 2:])
    mag2 = gx * gx + gy * gy

    unit = 1000 * sum(taps) ** 2
    low_t, high_t = low * unit, high * unit
    low2, high2 = low_t * low_t, high_t * high_t

    ax, ay = np.abs(gx), np.abs(gy)
    horizontal = ay <= TAN_22_5 * ax
    vertical = ~horizontal & (ay >= TAN_67_5 * ax)
    diagonal = ~horizontal & ~vertical
    down_right = diagonal & ((gx > 0) == (gy > 0))
    down_left = diagonal & ~down_right

    m = np.pad(mag2, 1, mode='constant')  # outside the image counts as 0

    def shifted(dx: int, dy: int) -> np.ndarray:
        return m[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]

    fwd = np.select([horizontal, vertical, down_right, down_left],
                    [shifted(1, 0), shifted(0, 1), shifted(1, 1), shifted(-1, 1)])
    back = np.select([horizontal, vertical, down_right, down_left],
                     [shifted(-1, 0), shifted(0, -1), shifted(-1, -1), shifted(1, -1)])
    keep = (mag2 > 0) & (mag2 >= low2) & (mag2 >= fwd) & (mag2 > back)
    strong = keep & (mag2 >= high2)
    return _hysteresis(keep, strong)


def _hysteresis(candidates: np.ndarray, strong: np.ndarray) -> np.ndarray:
    h, w = candidates.shape
    out = np.zeros((h + 2, w + 2), dtype=bool)
    cand = np.zeros((h + 2, w + 2), dtype=bool)
    cand[1:-1, 1:-1] = candidates
    W = w + 2
    flat_out = out.reshape(-1)
    flat_cand = cand.reshape(-1)
    ys, xs = np.nonzero(strong)
    stack = ((ys + 1) * W + xs + 1).tolist()
    flat_out[stack] = True
    offsets = (-W - 1, -W, -W + 1, -1, 1, W - 1, W, W + 1)
    while stack:
        i = stack.pop()
        for o in offsets:
            j = i + o
            if flat_cand[j] and not flat_out[j]:
                flat_out[j] = True
                stack.append(j)
    return out[1:-1, 1:-1].astype(np.uint8) * 255


def scribble(rgb: np.ndarray) -> np.ndarray:
    """Scribble mask of a drawing in either polarity: uint8 [H, W], 255 on the thinned lines."""
    luma = luma_thousandths(rgb)
    invert = 2 * int(np.count_nonzero(luma > 127500)) > luma.size
    lines = luma < 128000 if invert else luma > 127000
    return thin_zhang_suen(lines)


def thin_zhang_suen(binary: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning (both sub-iterations mark on the unchanged image, then delete): uint8 255/0."""
    h, w = binary.shape
    p = np.zeros((h + 2, w + 2), dtype=np.uint8)
    p[1:-1, 1:-1] = binary != 0
    while True:
        changed = False
        for step in (0, 1):
            c = p[1:-1, 1:-1]
            n2, n3, n4, n5 = p[:-2, 1:-1], p[:-2, 2:], p[1:-1, 2:], p[2:, 2:]
            n6, n7, n8, n9 = p[2:, 1:-1], p[2:, :-2], p[1:-1, :-2], p[:-2, :-2]
            ring = (n2, n3, n4, n5, n6, n7, n8, n9, n2)
            b = n2 + n3 + n4 + n5 + n6 + n7 + n8 + n9
            a = sum(((ring[k] == 0) & (ring[k + 1] == 1)).astype(np.uint8) for k in range(8))
            if step == 0:
                cond = ((n2 & n4 & n6) == 0) & ((n4 & n6 & n8) == 0)
            else:
                cond = ((n2 & n4 & n8) == 0) & ((n2 & n6 & n8) == 0)
            delete = (c == 1) & (b >= 2) & (b <= 6) & (a == 1) & cond
            if delete.any():
                changed = True
                p[1:-1, 1:-1][delete] = 0
        if not changed:
            break
    return p[1:-1, 1:-1] * np.uint8(255)


# ---------------------------------------------------------------- fixtures


def _synthetic() -> dict[str, np.ndarray]:
    from PIL import Image, ImageDraw
    cases = {}
    img = Image.new('RGB', (96, 80), (30, 30, 30))
    d = ImageDraw.Draw(img)
    d.rectangle([20, 16, 60, 50], fill=(230, 230, 230))
    d.ellipse([50, 30, 90, 70], fill=(200, 60, 40))
    d.polygon([(5, 75), (30, 55), (40, 78)], fill=(40, 200, 90))
    cases['shapes_96x80'] = np.asarray(img, dtype=np.uint8)
    # A smooth gradient with a step and low-amplitude noise (exercises weak edges and hysteresis).
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:64, 0:128]
    g = 40 + x * 1.2 + 50 * (x > 70) + 30 * (y > 40) + rng.normal(0, 6, (64, 128))
    cases['ramp_noise_128x64'] = np.repeat(np.clip(g, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    return cases


def _scribble_inputs() -> dict[str, np.ndarray]:
    from PIL import Image, ImageDraw
    cases = {}
    for name, bg, fg in (('strokes_white_on_black', 0, 255), ('strokes_black_on_white', 255, 0)):
        img = Image.new('RGB', (128, 96), (bg, bg, bg))
        d = ImageDraw.Draw(img)
        d.line([(10, 10), (110, 30)], fill=(fg, fg, fg), width=5)
        d.line([(20, 80), (60, 20), (100, 85)], fill=(fg, fg, fg), width=7, joint='curve')
        d.ellipse([70, 40, 120, 90], outline=(fg, fg, fg), width=4)
        cases[name] = np.asarray(img, dtype=np.uint8)
    return cases


def make_fixtures() -> None:
    from PIL import Image
    from . import scenes
    os.makedirs(FIXTURES, exist_ok=True)
    inputs: dict[str, np.ndarray] = {}
    for seed, size in ((1, (128, 128)), (2, (128, 128)), (3, (160, 96)), (4, (160, 96))):
        rng = np.random.default_rng(seed)
        scene = scenes.sample_scene(rng, size, held_out=None)
        inputs[f'scene{seed}_{size[0]}x{size[1]}'] = scenes.render(scene)
    inputs.update(_synthetic())
    scribbles = _scribble_inputs()
    manifest = []
    for name, rgb in {**inputs, **scribbles}.items():
        Image.fromarray(rgb).save(os.path.join(FIXTURES, f'{name}.input.png'))
        entry = {'name': name, 'width': int(rgb.shape[1]), 'height': int(rgb.shape[0]), 'outputs': {}}
        if name in inputs:
            Image.fromarray(canny(rgb)).save(os.path.join(FIXTURES, f'{name}.canny.png'))
            Image.fromarray(canny(rgb, low=40, high=80, sigma=1.0)).save(os.path.join(FIXTURES, f'{name}.canny-40-80-s1.png'))
            entry['outputs'] = {'canny': {'low': 100, 'high': 200, 'sigma': 1.4}, 'canny-40-80-s1': {'low': 40, 'high': 80, 'sigma': 1.0}}
        else:
            Image.fromarray(scribble(rgb)).save(os.path.join(FIXTURES, f'{name}.scribble.png'))
            entry['outputs'] = {'scribble': {}}
        manifest.append(entry)
    with open(os.path.join(FIXTURES, 'manifest.json'), 'w') as f:
        json.dump({'writer': 'tools/tiny_model/hints.py --make-fixtures', 'numpy': np.__version__, 'cases': manifest}, f, indent=1)
        f.write('\n')
    print(f'wrote {len(manifest)} cases to {os.path.relpath(FIXTURES, REPO)}')


def bench() -> None:
    from . import scenes
    rng = np.random.default_rng(0)
    images = [scenes.render(scenes.sample_scene(rng, (128, 128), held_out=None)) for _ in range(50)]
    strokes = list(_scribble_inputs().values())
    cases = (('canny, scenes', canny, images), ('scribble, drawn strokes 128x96', scribble, strokes * 25),
             ('scribble, scenes (filled shapes: many thinning passes)', scribble, images))
    for name, fn, inputs in cases:
        times = []
        for rgb in inputs:
            t = time.perf_counter()
            fn(rgb)
            times.append(time.perf_counter() - t)
        print(f'{name}: median {np.median(times) * 1000:.2f} ms per image (n={len(times)})')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--make-fixtures', action='store_true')
    ap.add_argument('--bench', action='store_true')
    args = ap.parse_args()
    if args.make_fixtures:
        make_fixtures()
    if args.bench:
        bench()
