"""Trains the canny ControlNet for tiny-shapes with the base UNet and text encoder frozen; resumable.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.train_controlnet --minutes 30

Data: the base training set (<work>/data.pkl: scenes and VAE latents per aspect bucket). Hints are
hints.canny of each scene's render (thresholds low/high = L/2L with L drawn per scene from 40/70/100, so
low-contrast edges appear too; see scene_hint for colours of equal luma), cached once in
<work>/adapters/hints_canny.pkl. Augmentation so the net also follows hand-drawn scribbles: half of the
hints lose random edge segments, half are warped by a smooth random displacement (up to about 2 px) and
some get 1-px jitter. Captions are dropped with probability 0.3 and lose their position and size words
with probability 0.5 (the hint is then the only source of the layout). The ControlNet starts as a copy of the UNet's encoder half with zero-initialised outputs
(models.ControlNetModel). Checkpoint: <work>/adapters/controlnet_ckpt.pt.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import pickle
import time

import numpy as np
import torch

from . import clip_bpe
from . import scenes
from . import train
from .adapter_common import (DEFAULT_CHECKPOINT, DEFAULT_WORK, DiffusionLoss, adapter_dir, atomic_save, load_base,
                            load_plain_data, log, optimizer_step)
from .models import ControlNetModel, count_params

SEED = 5101
HINT_VERSION = 2
CONFIG = {'batch': 16, 'lr': 5e-4, 'warmup': 100, 'caption_dropout': 0.3, 'caption_no_layout': 0.5,
          'thresholds': [40, 70, 100],
          'drop_segments': 0.5, 'warp': 0.5, 'shift': 0.3}


def canny_hint(rgb: np.ndarray, low: float) -> np.ndarray:
    from . import hints  # written alongside the engine's preprocessor; imported late on purpose
    return hints.canny(rgb, low, 2 * low)


def scene_hint(scene: scenes.Scene, low: float) -> np.ndarray:
    """Canny edges of the render; where colours of similar luma hide an object's edges (a third of the
    scenes), the edges of the same scene drawn black on white instead, so every hint shows the shapes."""
    m = canny_hint(scenes.render(scene), low)
    stark = copy.deepcopy(scene)
    stark.background = 'white'
    for o in stark.objects:
        o.colour = 'black'
    m_stark = canny_hint(scenes.render(stark), low)
    return m_stark if (m > 0).sum() < 0.7 * (m_stark > 0).sum() else m


def hint_cache(work: str, data: dict) -> dict:
    """{bucket: packed bool [N, H*W/8]} canny masks of the data set's scenes."""
    path = os.path.join(adapter_dir(work), 'hints_canny.pkl')
    counts = {k: len(v['scenes']) for k, v in data['buckets'].items()}
    if os.path.exists(path):
        with open(path, 'rb') as f:
            c = pickle.load(f)
        if c['counts'] == counts and c.get('version') == HINT_VERSION:
            return c['masks']
    rng = np.random.default_rng(SEED + 1)
    t0 = time.time()
    masks = {}
    for size, b in data['buckets'].items():
        rows = []
        for s in b['scenes']:
            low = CONFIG['thresholds'][rng.integers(len(CONFIG['thresholds']))]
            rows.append(np.packbits(scene_hint(s, low).reshape(-1) > 0))
        masks[size] = np.stack(rows)
    with open(path + '.tmp', 'wb') as f:
        pickle.dump({'counts': counts, 'version': HINT_VERSION, 'masks': masks}, f)
    os.replace(path + '.tmp', path)
    log(work, f'controlnet: canny hints for {sum(counts.values())} scenes ({time.time() - t0:.0f} s)')
    return masks


def drop_segments(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Erases 1-4 random discs of radius 4-14 px from the edge mask."""
    h, w = m.shape
    yy, xx = np.mgrid[0:h, 0:w]
    out = m.copy()
    for _ in range(rng.integers(1, 5)):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(4, 14)
        out &= (yy - cy) ** 2 + (xx - cx) ** 2 > r * r
    return out


def warp(m: np.ndarray, rng: np.random.Generator, amplitude: float = 2.0) -> np.ndarray:
    """Moves every pixel by a smooth random displacement (a 4x4 grid of offsets, bilinearly upsampled)."""
    h, w = m.shape
    grid = rng.uniform(-amplitude, amplitude, size=(2, 4, 4))
    ys = np.linspace(0, 3, h)
    xs = np.linspace(0, 3, w)
    y0, x0 = np.minimum(ys.astype(int), 2), np.minimum(xs.astype(int), 2)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]

    def up(g):
        a = g[y0][:, x0]
        b = g[y0][:, x0 + 1]
        c = g[y0 + 1][:, x0]
        d = g[y0 + 1][:, x0 + 1]
        return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy

    dy, dx = up(grid[0]), up(grid[1])
    yy, xx = np.mgrid[0:h, 0:w]
    sy = np.clip(np.round(yy + dy).astype(int), 0, h - 1)
    sx = np.clip(np.round(xx + dx).astype(int), 0, w - 1)
    return m[sy, sx]


def augment(m: np.ndarray, rng: np.random.Generator, cfg: dict) -> np.ndarray:
    if rng.random() < cfg['drop_segments']:
        m = drop_segments(m, rng)
    if rng.random() < cfg['warp']:
        m = warp(m, rng)
    if rng.random() < cfg['shift']:
        m = np.roll(m, (int(rng.integers(-1, 2)), int(rng.integers(-1, 2))), axis=(0, 1))
    return m


def training_caption(scene: scenes.Scene, rng: np.random.Generator, cfg: dict) -> str:
    """'' with p = caption_dropout; without position and size words with p = caption_no_layout (so the
    hint is the only source of the layout); else the full caption."""
    r = rng.random()
    if r < cfg['caption_dropout']:
        return ''
    if r < cfg['caption_dropout'] + cfg.get('caption_no_layout', 0.0):
        scene = copy.deepcopy(scene)
        for o in scene.objects:
            o.say_position = o.say_size = False
    return scenes.caption(scene, rng)


def hint_tensor(masks: list[np.ndarray]) -> torch.Tensor:
    """bool / uint8 masks [H, W] -> float32 [B, 3, H, W] in {0, 1}: the engine's controlnet_cond."""
    x = torch.from_numpy(np.stack([(m > 0).astype(np.float32) for m in masks]))
    return x[:, None].expand(-1, 3, -1, -1).contiguous()


def train_controlnet(work: str, checkpoint: str, minutes: float, max_steps: int, cfg: dict) -> dict:
    tok, te, unet, vae, scaling, info = load_base(checkpoint)
    data = load_plain_data(work)
    if data is None:
        raise SystemExit(f'{work}: no data.pkl (run train.py first)')
    masks = hint_cache(work, data)
    torch.manual_seed(SEED)
    cn = ControlNetModel(unet)
    params = list(cn.parameters())
    opt = torch.optim.AdamW(params, lr=cfg['lr'], weight_decay=0.0)
    loss_fn = DiffusionLoss()
    rng = np.random.default_rng(SEED)
    step, elapsed = 0, 0.0
    history: list[dict] = []
    ckpt = os.path.join(adapter_dir(work), 'controlnet_ckpt.pt')
    if os.path.exists(ckpt):
        s = torch.load(ckpt)
        if s['base'] == info['unet_steps']:
            cn.load_state_dict(s['controlnet'])
            opt.load_state_dict(s['opt'])
            step, elapsed, rng = s['step'], s['elapsed'], s['rng']
            torch.set_rng_state(s['torch_rng'])
            history = s.get('history') or [{'from_step': 0, 'config': s.get('train_config')}]
        else:
            log(work, 'controlnet: checkpoint belongs to another base; starting over')
    if not history or history[-1]['config'] != cfg:
        history.append({'from_step': step, 'config': cfg})
    log(work, f'controlnet: {count_params(cn)} parameters, from step {step}')
    sizes = list(data['buckets'])
    weights = np.array([scenes.BUCKET_WEIGHTS[scenes.BUCKETS.index(s)] for s in sizes])
    weights /= weights.sum()
    start = last_save = last_log = time.time()
    losses: list[float] = []

    def save():
        atomic_save({'controlnet': cn.state_dict(), 'config': cn.config, 'opt': opt.state_dict(), 'step': step,
                     'elapsed': elapsed + time.time() - start, 'rng': rng, 'torch_rng': torch.get_rng_state(),
                     'base': info['unet_steps'], 'train_config': cfg, 'history': history}, ckpt)

    b = cfg['batch']
    while step < max_steps and elapsed + time.time() - start < minutes * 60:
        size = sizes[rng.choice(len(sizes), p=weights)]
        bk = data['buckets'][size]
        idx = rng.integers(0, len(bk['scenes']), b)
        w, h = size
        hint = hint_tensor([augment(np.unpackbits(masks[size][i])[:h * w].reshape(h, w).astype(bool), rng, cfg)
                            for i in idx])
        caps = [training_caption(bk['scenes'][i], rng, cfg) for i in idx]
        z = torch.from_numpy(bk['latents'][idx].astype(np.float32)) * scaling
        with torch.no_grad():
            ctx, _ = te(train.encode_captions(tok, caps), clip_bpe.MAX_LENGTH)
        noisy, t, noise = loss_fn.noisy(z, rng)
        res = cn(noisy, t.float(), ctx, hint, 1.0)
        loss = loss_fn(unet(noisy, t.float(), ctx, list(res[:-1]), res[-1]), noise, t)
        optimizer_step(opt, params, loss, cfg['lr'] * min(1.0, (step + 1) / cfg['warmup']))
        step += 1
        losses.append(loss.item())
        if step % 25 == 0:
            log(work, f'controlnet step {step} loss {np.mean(losses):.4f} {(time.time() - last_log) / len(losses):.2f} s/step')
            losses, last_log = [], time.time()
        if time.time() - last_save > 180:
            save()
            last_save = time.time()
    save()
    total = elapsed + time.time() - start
    summary = {'steps': step, 'batch': b, 'train_seconds': round(total), 'parameters': count_params(cn),
               'base_steps': info['unet_steps'], 'config': cfg, 'history': history}
    with open(os.path.join(adapter_dir(work), 'controlnet.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    log(work, f'controlnet: stopped at step {step}, {total:.0f} s')
    return summary


def load_trained(work: str, unet) -> tuple[ControlNetModel, dict]:
    s = torch.load(os.path.join(adapter_dir(work), 'controlnet_ckpt.pt'))
    cn = ControlNetModel(unet)
    cn.load_state_dict(s['controlnet'])
    return cn.eval(), {'steps': s['step'], 'train_seconds': round(s['elapsed']), 'base_steps': s['base'],
                       'train_config': s.get('train_config'), 'history': s.get('history')}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--work', default=DEFAULT_WORK)
    ap.add_argument('--checkpoint', default=DEFAULT_CHECKPOINT)
    ap.add_argument('--minutes', type=float, default=30)
    ap.add_argument('--steps', type=int, default=1_000_000)
    ap.add_argument('--batch', type=int, default=CONFIG['batch'])
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('IMGPROMPT_THREADS', '2')))
    print(json.dumps(train_controlnet(args.work, args.checkpoint, args.minutes, args.steps,
                                      dict(CONFIG, batch=args.batch)), indent=1))


if __name__ == '__main__':
    main()
