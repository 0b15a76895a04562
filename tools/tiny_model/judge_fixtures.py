"""Writes the pixel judge's reference cases (test/fixtures/reference/judge/): a few PNGs and judge.py's
verdict on each, so the TypeScript port (scripts/eval/judge.ts) can be checked rule for rule.

    /usr/bin/python3 -m tools.tiny_model.judge_fixtures

Cases: tiles of the PyTorch renders in results/eval_seen.png / eval_held_out.png (real model output),
the data renderer's scenes with and without noise, and edge cases of every rule (the 60-unit distance,
the 0.5% object threshold, ties on the border and among object colours, non-square and tiny images).
Also eval.py's score() of those verdicts against made-up items (all cases, and the first 16 so that
percentages land on rounding ties such as 6.25).
"""
from __future__ import annotations

import json
import os

import numpy as np
from PIL import Image

from . import scenes
from .judge import MAX_DISTANCE, MIN_OBJECT_FRACTION, judge

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, 'test', 'fixtures', 'reference', 'judge')
SEED = 2024
C = scenes.COLOURS


def grid_tiles(path: str, count: int, size: int = 128, pad: int = 2, cols: int = 8) -> list[np.ndarray]:
    grid = np.asarray(Image.open(path).convert('RGB'))
    tiles = []
    for k in range(count):
        r, c = divmod(k, cols)
        y, x = pad + r * (size + pad), pad + c * (size + pad)
        tiles.append(grid[y:y + size, x:x + size].copy())
    return tiles


def flat(w: int, h: int, colour: str) -> np.ndarray:
    return np.tile(np.array(C[colour], dtype=np.uint8), (h, w, 1))


def cases(rng: np.random.Generator) -> list[tuple[str, str, np.ndarray]]:
    out: list[tuple[str, str, np.ndarray]] = []
    for name in ('eval_seen', 'eval_held_out'):
        path = os.path.join(HERE, 'results', name + '.png')
        for k, tile in enumerate(grid_tiles(path, 5)):
            out.append((f'{name}_{k}', f'PyTorch render {k} of results/{name}.png', tile))
    for k in range(5):
        size = scenes.BUCKETS[k % len(scenes.BUCKETS)]
        scene = scenes.sample_scene(rng, size, held_out=None)
        img = scenes.render(scene)
        out.append((f'scene_{k}', f'data renderer, {size[0]}x{size[1]}, {len(scene.objects)} object(s)', img))
        noisy = np.clip(img.astype(np.float64) + rng.normal(0, 25, img.shape), 0, 255).round().astype(np.uint8)
        out.append((f'scene_{k}_noisy', 'the same with Gaussian noise (sigma 25)', noisy))
    out.append(('uniform_noise', 'uniform random pixels', rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)))
    out.append(('flat', 'one colour: no object', flat(32, 32, 'blue')))

    # 0.5% of 128x128 is 81.92 pixels: 81 object pixels are too few, 82 are enough.
    for n in (81, 82):
        img = flat(128, 128, 'white')
        ys, xs = np.divmod(np.arange(n), 9)
        img[40 + ys, 90 + xs] = C['red']
        out.append((f'threshold_{n}', f'{n} red pixels on white', img))

    # Distance 60 is in, 61 is out: a block off red by (0, 0, 60) or (0, 0, 61), a small exact red block and
    # a blue block larger than the red one; red wins only when the off-red block counts.
    for d in (60, 61):
        img = flat(40, 40, 'black')
        r, g, b = C['red']
        img[5:35, 3:12] = (r, g, b + d)
        img[30:34, 30:34] = C['red']
        img[2:7, 20:30] = C['blue']
        out.append((f'distance_{d}', f'a block {d} units from red, small red and blue blocks', img))
    # Pixels beyond 60 units still count for the centroid of their nearest colour.
    img = flat(40, 40, 'black')
    r, g, b = C['blue']
    img[10:30, 5:15] = (r, g, b - MAX_DISTANCE - 1)
    img[30:34, 30:34] = C['blue']
    out.append(('far_pixels_in_centroid', 'a large block nearest blue but 61 units off, a small blue block', img))

    # Border tie: left half blue, right half red (equal border counts): the earlier palette colour wins.
    img = flat(20, 20, 'red')
    img[:, :10] = C['blue']
    out.append(('border_tie', 'half blue, half red', img))
    # Object colour tie: equal yellow and purple pixel counts on white.
    img = flat(50, 50, 'white')
    img[10:20, 5:15] = C['purple']
    img[30:40, 30:40] = C['yellow']
    out.append(('object_tie', 'equal purple and yellow blocks on white', img))
    # Corners are counted twice on the border: 2x2 orange corners against a border of mostly green.
    img = flat(6, 6, 'green')
    for y, x in ((0, 0), (0, 4), (4, 0), (4, 4)):
        img[y:y + 2, x:x + 2] = C['orange']
    out.append(('corners_twice', '6x6 green with orange 2x2 corners', img))
    # Midpoints between palette colours and grey values.
    img = np.zeros((16, 16, 3), dtype=np.uint8)
    names = scenes.COLOUR_NAMES
    for y in range(16):
        for x in range(16):
            a, b = np.array(C[names[y % 8]]), np.array(C[names[x % 8]])
            img[y, x] = ((a + b) // 2 + (y // 8) * (x // 8)).astype(np.uint8)
    out.append(('midpoints', 'midpoints between every pair of palette colours', img))
    out.append(('tiny_1x1', 'a single pixel', flat(1, 1, 'orange')))
    img = flat(5, 3, 'purple')
    img[1, 2] = C['white']
    out.append(('tiny_5x3', '5x3 purple with one white pixel', img))
    return out


def score_sets(rng: np.random.Generator, verdicts: list[dict]) -> list[dict]:
    from .eval import score  # imports torch; only needed here
    items = []
    for v in verdicts:
        # Half the time the item agrees with the verdict, so every accuracy lands away from 0 and 100.
        bg = v['background'] if rng.random() < 0.5 else scenes.COLOUR_NAMES[rng.integers(8)]
        obj = v['object'] if v['object'] and rng.random() < 0.5 else scenes.COLOUR_NAMES[rng.integers(8)]
        items.append({'prompt': f'{obj} circle, {bg} background', 'background': bg, 'object': obj, 'shape': 'circle',
                      'position': scenes.POSITION_NAMES[rng.integers(9)], 'seed': int(rng.integers(0, 2 ** 31))})
    return [{'items': items[:n], 'score': score(items[:n], verdicts[:n])} for n in (len(items), 16)]


def main() -> None:
    assert MIN_OBJECT_FRACTION == 0.005 and MAX_DISTANCE == 60.0
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(SEED)
    listing = []
    for name, note, img in cases(rng):
        Image.fromarray(img).save(os.path.join(OUT, name + '.png'), optimize=True)
        listing.append({'file': name + '.png', 'note': note, 'width': int(img.shape[1]), 'height': int(img.shape[0]),
                        'verdict': judge(img)})
    scores = score_sets(rng, [c['verdict'] for c in listing])
    with open(os.path.join(OUT, 'verdicts.json'), 'w') as f:
        json.dump({'generator': 'tools/tiny_model/judge_fixtures.py', 'cases': listing, 'scores': scores}, f, indent=1)
        f.write('\n')
    print(f'wrote {len(listing)} cases to {os.path.relpath(OUT, REPO)}')


if __name__ == '__main__':
    main()
