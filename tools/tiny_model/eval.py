"""Measures tiny-shapes with the pixel judge (judge.py) and writes the figures.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.eval [--checkpoint PATH | --work DIR] [--n 96]

Sets (single-object scenes, native 128x128, 20 Euler steps, guidance 7.5, negative prompt ""):
- seen: (object colour, background) pairs seen in training, with new seeds and evaluation-only wordings;
- held_out: the pairs in scenes.HELD_OUT_PAIRS, never seen in training;
- shuffled: the seen set's images rendered from another item's prompt, judged against the original
  item (a control: near chance when the judge cannot be satisfied without following the prompt).
Writes tools/tiny_model/results/eval.json and an image grid.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from PIL import Image

from . import export
from . import scenes
from .judge import horizontal_side, judge, vertical_side
from .sample import generate

HERE = os.path.dirname(os.path.abspath(__file__))
EVAL_SEED = 777


def eval_items(n: int, held_out: bool, rng: np.random.Generator) -> list[dict]:
    items = []
    while len(items) < n:
        if held_out:
            obj, bg = scenes.HELD_OUT_PAIRS[len(items) % len(scenes.HELD_OUT_PAIRS)]
        else:
            obj, bg = scenes.COLOUR_NAMES[rng.integers(8)], scenes.COLOUR_NAMES[rng.integers(8)]
            if obj == bg or (obj, bg) in scenes.HELD_OUT_PAIRS:
                continue
        spec = scenes.ShapeSpec(shape=scenes.SHAPES[rng.integers(3)], colour=obj, size=scenes.SIZES[rng.integers(2)],
                                position=scenes.POSITION_NAMES[rng.integers(9)], say_size=bool(rng.random() < 0.5))
        scene = scenes.Scene(128, 128, bg, [spec])
        prompt = scenes.caption(scene, rng, eval_wording=not held_out)
        items.append({'prompt': prompt, 'background': bg, 'object': obj, 'shape': spec.shape,
                      'position': spec.position, 'seed': int(rng.integers(0, 2 ** 31))})
    return items


def score(items: list[dict], verdicts: list[dict]) -> dict:
    bg = [v['background'] == it['background'] for it, v in zip(items, verdicts)]
    obj = [v['object'] == it['object'] for it, v in zip(items, verdicts)]
    both = [a and b for a, b in zip(bg, obj)]
    lr, lr_all, tb = [], [], []
    for it, v in zip(items, verdicts):
        side = horizontal_side(it['position'])
        if side and v['x'] is not None:
            ok = (v['x'] < 0.5) == (side == 'left')
        else:
            ok = False
        if side:
            lr_all.append(ok)
            if it['position'] in ('left', 'right'):
                lr.append(ok)
        vside = vertical_side(it['position'])
        if vside:
            tb.append(v['y'] is not None and (v['y'] < 0.5) == (vside == 'top'))
    pct = lambda xs: round(100.0 * float(np.mean(xs)), 1) if xs else None  # noqa: E731
    return {'n': len(items), 'background': pct(bg), 'object_colour': pct(obj), 'both_colours': pct(both),
            'left_right': pct(lr), 'left_right_n': len(lr), 'horizontal_incl_corners': pct(lr_all),
            'vertical_incl_corners': pct(tb), 'object_found': pct([v['object'] is not None for v in verdicts])}


def render_all(comp, items: list[dict], prompts: list[str], batch: int = 16) -> list[np.ndarray]:
    tok, te, unet, vae, scaling, _ = comp
    out = []
    for i in range(0, len(items), batch):
        chunk = items[i:i + batch]
        out += list(generate(tok, te, unet, vae, scaling, prompts[i:i + batch], [it['seed'] for it in chunk]))
    return out


def grid(images: list[np.ndarray], cols: int, pad: int = 2) -> Image.Image:
    h, w, _ = images[0].shape
    rows = (len(images) + cols - 1) // cols
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 128, dtype=np.uint8)
    for k, im in enumerate(images):
        r, c = divmod(k, cols)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + im.shape[0], pad + c * (w + pad):pad + c * (w + pad) + im.shape[1]] = im
    return Image.fromarray(canvas)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', default=os.path.join(HERE, 'checkpoints', 'latest.pt'))
    ap.add_argument('--work', help='read the EMA weights of a training folder instead of --checkpoint')
    ap.add_argument('--n', type=int, default=96)
    ap.add_argument('--out', default=os.path.join(HERE, 'results'))
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('IMGPROMPT_THREADS', '2')))
    comp = export.load_components(args.work or args.checkpoint)
    rng = np.random.default_rng(EVAL_SEED)
    seen = eval_items(args.n, False, rng)
    held = eval_items(args.n, True, rng)
    t0 = time.time()
    seen_img = render_all(comp, seen, [it['prompt'] for it in seen])
    held_img = render_all(comp, held, [it['prompt'] for it in held])
    # Control: a derangement of the seen prompts (shift by a third of the set).
    shift = max(1, args.n // 3)
    shuffled_prompts = [seen[(i + shift) % len(seen)]['prompt'] for i in range(len(seen))]
    shuf_img = render_all(comp, seen, shuffled_prompts)
    seconds = time.time() - t0
    results = {
        'model_steps': comp[5]['unet_steps'],
        'settings': {'size': [128, 128], 'steps': 20, 'sampler': 'euler', 'guidance': 7.5, 'negative': '',
                     'eval_seed': EVAL_SEED},
        'seen': score(seen, [judge(i) for i in seen_img]),
        'held_out': score(held, [judge(i) for i in held_img]),
        'shuffled_control': score(seen, [judge(i) for i in shuf_img]),
        'render_seconds': round(seconds, 1),
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'eval.json'), 'w') as f:
        json.dump(results, f, indent=2)
        f.write('\n')
    with open(os.path.join(args.out, 'eval_prompts.json'), 'w') as f:
        json.dump({'seen': seen, 'held_out': held}, f, indent=1)
        f.write('\n')
    grid(seen_img[:32], 8).save(os.path.join(args.out, 'eval_seen.png'))
    grid(held_img[:32], 8).save(os.path.join(args.out, 'eval_held_out.png'))
    print(json.dumps(results, indent=2))


if __name__ == '__main__':
    main()
