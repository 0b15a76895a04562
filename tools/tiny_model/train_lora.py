"""Trains a style LoRA for tiny-shapes with the base model frozen; resumable.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.train_lora --style outline --format kohya \
        --minutes 9 [--checkpoint tools/tiny_model/checkpoints/latest.pt] [--out models/tiny-shapes/loras]

Data: style renderings (styles.py) of freshly sampled scenes, encoded once with the base VAE and cached in
<work>/adapters/style_<style>.pkl, captioned "<trigger>, <caption>". A quarter of every batch is the base
training set (<work>/data.pkl) with plain captions, so the adapter leaves prompts without the trigger word
close to the base model. Objective: train.py's (eps, offset noise, min-SNR). LoRA on every attention
projection (to_q/to_k/to_v/to_out.0 of attn1 and attn2); --format kohya adds LoCon on the up-block convs.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import time

import numpy as np
import torch

from . import clip_bpe
from . import lora
from . import safetensors_io
from . import scenes
from . import styles
from . import train
from .adapter_common import (DEFAULT_CHECKPOINT, DEFAULT_WORK, REPO, DiffusionLoss, adapter_dir, atomic_save,
                            checkpoint_id, encode_latents, encoder_hash, load_base, load_plain_data, log,
                            optimizer_step)

SETTINGS = {
    'outline': {'seed': 4101, 'format': 'kohya'},
    'striped': {'seed': 4102, 'format': 'peft'},
}
DEFAULTS = {'rank': 8, 'alpha': 4.0, 'batch': 16, 'lr': 1e-3, 'warmup': 30, 'scenes': 3000, 'plain_fraction': 0.25,
            'plain_caption_dropout': 0.1, 'suffix_trigger': 0.2}


def style_cache(work: str, style: str, vae, n: int, seed: int) -> dict:
    """{bucket: {'scenes', 'latents' (unscaled float16)}} of style renders; built once per VAE encoder."""
    path = os.path.join(adapter_dir(work), f'style_{style}.pkl')
    fp = encoder_hash(vae)
    if os.path.exists(path):
        cache = train.load_pickle(path)
        if cache['encoder'] == fp and cache['n'] == n and cache.get('version') == styles.STYLE_VERSION:
            return cache['buckets']
    rng = np.random.default_rng(seed)
    t0 = time.time()
    buckets = {}
    for size, weight in zip(scenes.BUCKETS, scenes.BUCKET_WEIGHTS):
        count = max(1, int(round(n * weight)))
        sc = [scenes.sample_scene(rng, size, held_out=None) for _ in range(count)]
        lat = [encode_latents(vae, [styles.render_styled(s, style) for s in sc[i:i + 16]]) for i in range(0, count, 16)]
        buckets[size] = {'scenes': sc, 'latents': np.concatenate(lat)}
    with open(path + '.tmp', 'wb') as f:
        pickle.dump({'encoder': fp, 'n': n, 'version': styles.STYLE_VERSION, 'buckets': buckets}, f)
    os.replace(path + '.tmp', path)
    log(work, f'lora {style}: encoded {n} style renders ({time.time() - t0:.0f} s)')
    return buckets


def with_trigger(trigger: str, caption: str, rng: np.random.Generator, suffix_p: float) -> str:
    return f'{caption}, {trigger}' if rng.random() < suffix_p else f'{trigger}, {caption}'


def train_lora(style: str, work: str, checkpoint: str, out_dir: str, fmt: str, minutes: float, max_steps: int,
               cfg: dict) -> dict:
    tok, te, unet, vae, scaling, info = load_base(checkpoint)
    seed = SETTINGS[style]['seed']
    torch.manual_seed(seed)
    styled = style_cache(work, style, vae, cfg['scenes'], seed)
    plain = load_plain_data(work)
    paths = lora.target_paths(unet, convs=(fmt == 'kohya'))
    wrappers = lora.inject(unet, paths, cfg['rank'], cfg['alpha'])
    params = lora.lora_parameters(wrappers)
    opt = torch.optim.AdamW(params, lr=cfg['lr'], weight_decay=0.0)
    loss_fn = DiffusionLoss()
    rng = np.random.default_rng(seed)
    step, elapsed = 0, 0.0
    ckpt = os.path.join(adapter_dir(work), f'lora_{style}_ckpt.pt')
    if os.path.exists(ckpt):
        s = torch.load(ckpt)
        if s['base'] == info['unet_steps'] and s['paths'] == paths:
            for p, v in zip(params, s['params']):
                p.data.copy_(v)
            opt.load_state_dict(s['opt'])
            step, elapsed, rng = s['step'], s['elapsed'], s['rng']
            torch.set_rng_state(s['torch_rng'])
        else:
            log(work, f'lora {style}: checkpoint belongs to another base or layout; starting over')
    n_params = sum(p.numel() for p in params)
    log(work, f'lora {style}: {len(paths)} layers, {n_params} parameters, rank {cfg["rank"]}, from step {step}')
    sizes = list(styled)
    weights = np.array([scenes.BUCKET_WEIGHTS[scenes.BUCKETS.index(s)] for s in sizes])
    weights /= weights.sum()
    start = last_save = last_log = time.time()
    losses: list[float] = []

    def save():
        atomic_save({'params': [p.detach().clone() for p in params], 'opt': opt.state_dict(), 'step': step,
                     'elapsed': elapsed + time.time() - start, 'rng': rng, 'torch_rng': torch.get_rng_state(),
                     'base': info['unet_steps'], 'paths': paths}, ckpt)

    b = cfg['batch']
    n_plain = int(round(b * cfg['plain_fraction'])) if plain else 0
    while step < max_steps and elapsed + time.time() - start < minutes * 60:
        size = sizes[rng.choice(len(sizes), p=weights)]
        sb = styled[size]
        idx = rng.integers(0, len(sb['scenes']), b - n_plain)
        caps = [with_trigger(style, scenes.caption(sb['scenes'][i], rng), rng, cfg['suffix_trigger']) for i in idx]
        z = [sb['latents'][idx].astype(np.float32)]
        if n_plain and size in plain['buckets']:
            pb = plain['buckets'][size]
            pidx = rng.integers(0, len(pb['scenes']), n_plain)
            caps += ['' if rng.random() < cfg['plain_caption_dropout'] else scenes.caption(pb['scenes'][i], rng)
                     for i in pidx]
            z.append(pb['latents'][pidx].astype(np.float32))
        z = torch.from_numpy(np.concatenate(z)) * scaling
        with torch.no_grad():
            ctx, _ = te(train.encode_captions(tok, caps), clip_bpe.MAX_LENGTH)
        noisy, t, noise = loss_fn.noisy(z, rng)
        loss = loss_fn(unet(noisy, t.float(), ctx), noise, t)
        optimizer_step(opt, params, loss, cfg['lr'] * min(1.0, (step + 1) / cfg['warmup']))
        step += 1
        losses.append(loss.item())
        if step % 25 == 0:
            log(work, f'lora {style} step {step} loss {np.mean(losses):.4f} {(time.time() - last_log) / len(losses):.2f} s/step')
            losses, last_log = [], time.time()
        if time.time() - last_save > 120:
            save()
            last_save = time.time()
    save()
    total = elapsed + time.time() - start
    meta = {'format': 'imgprompt-lora-1', 'ss_network_module': 'networks.lora' if fmt == 'kohya' else 'peft',
            'naming': fmt, 'trigger_word': style, 'base_model': checkpoint_id(checkpoint), 'rank': cfg['rank'],
            'alpha': cfg['alpha'] if fmt == 'kohya' else cfg['rank'], 'steps': step, 'batch': b,
            'scenes': cfg['scenes'], 'lr': cfg['lr'],
            'train_seconds': round(total), 'style': style, 'layers': len(paths),
            'targets': 'attention to_q/to_k/to_v/to_out.0' + (' + up-block resnet convs (LoCon)' if fmt == 'kohya' else ''),
            'scale_note': 'kohya: scale = alpha / rank per layer' if fmt == 'kohya' else 'PEFT: alpha / rank folded into lora_B'}
    tensors = lora.to_kohya(wrappers) if fmt == 'kohya' else lora.to_peft(wrappers)
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, f'{style}.safetensors')
    safetensors_io.write(out, tensors, meta)
    summary = dict(meta, file=os.path.relpath(out, REPO), bytes=os.path.getsize(out), parameters=n_params,
                   final_loss=float(np.mean(losses)) if losses else None)
    with open(os.path.join(adapter_dir(work), f'lora_{style}.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    log(work, f'lora {style}: wrote {out} ({summary["bytes"]} bytes) after {step} steps, {total:.0f} s')
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--style', choices=sorted(SETTINGS), required=True)
    ap.add_argument('--format', choices=['kohya', 'peft'])
    ap.add_argument('--work', default=DEFAULT_WORK)
    ap.add_argument('--checkpoint', default=DEFAULT_CHECKPOINT)
    ap.add_argument('--out', default=os.path.join(REPO, 'models', 'tiny-shapes', 'loras'))
    ap.add_argument('--minutes', type=float, default=9)
    ap.add_argument('--steps', type=int, default=1_000_000)
    ap.add_argument('--scenes', type=int, default=DEFAULTS['scenes'])
    ap.add_argument('--batch', type=int, default=DEFAULTS['batch'])
    ap.add_argument('--rank', type=int, default=DEFAULTS['rank'])
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('IMGPROMPT_THREADS', '2')))
    cfg = dict(DEFAULTS, scenes=args.scenes, batch=args.batch, rank=args.rank)
    print(json.dumps(train_lora(args.style, args.work, args.checkpoint, args.out,
                                args.format or SETTINGS[args.style]['format'], args.minutes, args.steps, cfg), indent=1))


if __name__ == '__main__':
    main()
