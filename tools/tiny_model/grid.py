"""Renders the illustration grid docs/images/tiny-shapes-grid.png (seed 42 + row, 20 Euler steps,
guidance 7.5) from the packed checkpoint, and lists its prompts in tools/tiny_model/results/grid.json.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.grid
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch
from PIL import Image

from . import export
from .sample import generate

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# (prompt, (width, height)); the row marked held out uses (object, background) pairs never trained on.
ROWS = [
    ('seen pairs, 128x128', (128, 128), [
        'a large red circle on the left, on a green background',
        'small yellow square at the top right; black background',
        'on a purple background, a white triangle at the bottom',
        'a blue square in the center, yellow background',
        'a large black circle at the bottom left, on a yellow background',
        'a green triangle on the right; white background',
    ]),
    ('held-out pairs, 128x128', (128, 128), [
        'a large red circle in the center, on a blue background',
        'a green square on the left; yellow background',
        'a blue triangle at the top, on an orange background',
        'a large yellow circle on the right, purple background',
        'a purple square at the bottom right; white background',
        'an orange circle on the left, black background',
    ]),
    ('two objects and other buckets', None, [
        'a red circle on the left and a blue square on the right, white background',
        'a yellow triangle at the top and a green circle at the bottom; black background',
        'a white square at the top left and a red triangle at the bottom right, on a purple background',
        'a large orange circle on the left, on a purple background',
        'a small black square at the top, green background',
        'a large white triangle on the right; red background',
    ]),
]
BUCKET_ROW = [(160, 96), (96, 160), (160, 96), (192, 96), (96, 192), (160, 96)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--source', default=os.path.join(HERE, 'checkpoints', 'latest.pt'))
    ap.add_argument('--out', default=os.path.join(REPO, 'docs', 'images', 'tiny-shapes-grid.png'))
    args = ap.parse_args()
    torch.set_num_threads(2)
    comp = export.load_components(args.source)
    tok, te, unet, vae, scaling, _ = comp
    cell, pad = 192, 4
    canvas = np.full((len(ROWS) * (cell + pad) + pad, 6 * (cell + pad) + pad, 3), 96, dtype=np.uint8)
    listing = []
    for r, (title, size, prompts) in enumerate(ROWS):
        for c, prompt in enumerate(prompts):
            wh = size or BUCKET_ROW[c]
            img = generate(tok, te, unet, vae, scaling, [prompt], [42 + r], wh)[0]
            y0 = pad + r * (cell + pad) + (cell - wh[1]) // 2
            x0 = pad + c * (cell + pad) + (cell - wh[0]) // 2
            canvas[y0:y0 + wh[1], x0:x0 + wh[0]] = img
            listing.append({'row': r, 'col': c, 'group': title, 'prompt': prompt, 'size': list(wh), 'seed': 42 + r})
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    Image.fromarray(canvas).save(args.out, optimize=True)
    os.makedirs(os.path.join(HERE, 'results'), exist_ok=True)
    with open(os.path.join(HERE, 'results', 'grid.json'), 'w') as f:
        json.dump({'steps': 20, 'sampler': 'euler', 'guidance': 7.5, 'negative': '', 'cells': listing}, f, indent=1)
        f.write('\n')
    print(args.out)


if __name__ == '__main__':
    main()
