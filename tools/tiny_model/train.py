"""Trains tiny-shapes in stages, resumable: tokenizer -> VAE -> latent data set -> text encoder
(attribute heads) -> UNet + text encoder jointly.

Every stage writes its result into the work folder (default $IMGPROMPT_TRAIN_DIR or
~/.cache/imgprompt-train) and is skipped when that result exists, so rerunning the same command resumes.
The UNet stage checkpoints every few minutes (weights, EMA, optimiser, RNG state) and stops cleanly at
--unet-minutes, --unet-steps, or when a file named STOP appears in the work folder.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.train --unet-minutes 90
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import clip_bpe
from . import scenes
from .models import AutoencoderKL, TextAuxHeads, TextEncoder, UNet2DConditionModel, count_params
from .schedule import alphas_cumprod

# The whole recipe. Changing any value changes the model; the model card quotes these.
RECIPE = {
    'seed': 20261128,
    'tokenizer_corpus': 60000,
    'vae': {'channels': [16, 32, 64, 64], 'latent_channels': 4, 'batch': 16, 'crop': 64, 'lr': 1e-3,
            'steps': 700, 'kl_weight': 1e-6},
    'data': {'scenes': 8000, 'encode_batch': 16, 'encode_threads': 1},
    'text': {'hidden_size': 128, 'num_layers': 4, 'num_heads': 4, 'intermediate_size': 512,
             'pretrain_steps': 400, 'pretrain_batch': 128, 'lr': 1e-3},
    'unet': {'channels': [32, 64, 128], 'attention': [False, True, True], 'head_dim': 32,
             'layers_per_block': 1, 'batch': 32, 'lr': 3e-4, 'weight_decay': 0.01, 'warmup': 200,
             'ema_decay': 0.999, 'caption_dropout': 0.1, 'min_snr_gamma': 5.0, 'offset_noise': 0.1,
             'aux_weight': 0.1, 'grad_clip': 1.0},
}


def log(work: str, msg: str) -> None:
    line = time.strftime('%H:%M:%S ') + msg
    print(line, flush=True)
    with open(os.path.join(work, 'log.txt'), 'a') as f:
        f.write(line + '\n')


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def atomic_save(obj, path: str) -> None:
    torch.save(obj, path + '.tmp')
    os.replace(path + '.tmp', path)


class _WorkFolderUnpickler(pickle.Unpickler):
    # Work folders made before the tools became the package tools.tiny_model pickled scenes.Scene under
    # the top-level module name `scenes`; they stay readable instead of costing a rebuild of the data set.
    def find_class(self, module: str, name: str):
        return super().find_class(scenes.__name__ if module == 'scenes' else module, name)


def load_pickle(path: str):
    """A work-folder pickle (data.pkl, the style caches), from this or an earlier layout of the tools."""
    with open(path, 'rb') as f:
        return _WorkFolderUnpickler(f).load()


# ------------------------------------------------------------------------------------------ stages

def stage_tokenizer(work: str, r: dict) -> None:
    folder = os.path.join(work, 'tokenizer')
    if os.path.exists(os.path.join(folder, 'merges.txt')):
        return
    rng = np.random.default_rng(r['seed'])
    corpus = []
    for _ in range(r['tokenizer_corpus']):
        scene = scenes.sample_scene(rng, (128, 128), held_out=None)
        corpus.append(scenes.caption(scene, rng, eval_wording=rng.random() < 0.1))
    merges = clip_bpe.train(corpus)
    clip_bpe.save(folder, merges)
    log(work, f'tokenizer: {len(merges)} merges, vocab {len(merges) + 514}')


def make_vae(r: dict) -> AutoencoderKL:
    return AutoencoderKL(tuple(r['vae']['channels']), r['vae']['latent_channels'])


def stage_vae(work: str, r: dict, minutes: float) -> None:
    final = os.path.join(work, 'vae.pt')
    if os.path.exists(final):
        return
    c = r['vae']
    torch.manual_seed(r['seed'] + 1)
    vae = make_vae(r)
    opt = torch.optim.Adam(vae.parameters(), lr=c['lr'])
    rng = np.random.default_rng(r['seed'] + 1)
    ckpt = os.path.join(work, 'vae_ckpt.pt')
    step = 0
    if os.path.exists(ckpt):
        s = torch.load(ckpt)
        vae.load_state_dict(s['vae'])
        opt.load_state_dict(s['opt'])
        step = s['step']
        rng = s['rng']
    log(work, f'vae: {count_params(vae)} params, from step {step}')
    start = time.time()
    last_save = start
    while step < c['steps'] and (time.time() - start) < minutes * 60:
        crops = []
        for _ in range(c['batch']):
            scene = scenes.sample_scene(rng, scenes.sample_bucket(rng))
            img = scenes.render(scene)
            y = rng.integers(0, img.shape[0] - c['crop'] + 1) // 8 * 8
            x = rng.integers(0, img.shape[1] - c['crop'] + 1) // 8 * 8
            crops.append(img[y:y + c['crop'], x:x + c['crop']])
        x = to_tensor(crops)
        lr = c['lr'] * (0.1 if step > 0.8 * c['steps'] else 1.0)
        for g in opt.param_groups:
            g['lr'] = lr
        mean, logvar = vae.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        rec = vae.decode(z)
        mse = F.mse_loss(rec, x)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum() / x.shape[0]
        loss = mse + 0.5 * (rec - x).abs().mean() + c['kl_weight'] * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            psnr = 10 * np.log10(4.0 / max(mse.item(), 1e-10))
            log(work, f'vae step {step} mse {mse.item():.5f} psnr {psnr:.1f} dB kl {kl.item():.1f}')
        if time.time() - last_save > 300:
            atomic_save({'vae': vae.state_dict(), 'opt': opt.state_dict(), 'step': step, 'rng': rng}, ckpt)
            last_save = time.time()
    atomic_save({'vae': vae.state_dict(), 'opt': opt.state_dict(), 'step': step, 'rng': rng}, ckpt)
    if step >= c['steps']:
        atomic_save({'vae': vae.state_dict(), 'config': vae.config, 'steps': step}, final)
        log(work, f'vae done at step {step}')
    else:
        raise SystemExit('vae stage stopped by its time limit; rerun to resume')


def load_vae(work: str, r: dict) -> AutoencoderKL:
    """The trained VAE, with the fine-tuned decoder (finetune_decoder.py) when there is one."""
    vae = make_vae(r)
    vae.load_state_dict(torch.load(os.path.join(work, 'vae.pt'))['vae'])
    ft = os.path.join(work, 'vae_decoder_ft.pt')
    if os.path.exists(ft):
        s = torch.load(ft)
        vae.decoder.load_state_dict(s['decoder'])
        vae.post_quant_conv.load_state_dict(s['post_quant_conv'])
    return vae.eval()


def stage_data(work: str, r: dict) -> None:
    """Renders the training scenes and stores their VAE latent means (unscaled) per bucket."""
    path = os.path.join(work, 'data.pkl')
    if os.path.exists(path):
        return
    vae = load_vae(work, r)
    rng = np.random.default_rng(r['seed'] + 2)
    n = r['data']['scenes']
    eb = r['data']['encode_batch']
    # One thread encodes faster than two on a loaded machine (measured 74 vs 180 ms per image).
    threads = torch.get_num_threads()
    torch.set_num_threads(r['data']['encode_threads'])
    buckets = {}
    t0 = time.time()
    for size, weight in zip(scenes.BUCKETS, scenes.BUCKET_WEIGHTS):
        count = int(round(n * weight))
        scene_list, latents = [], []
        for i in range(0, count, eb):
            batch = [scenes.sample_scene(rng, size) for _ in range(min(eb, count - i))]
            with torch.no_grad():
                mean, _ = vae.encode(to_tensor([scenes.render(s) for s in batch]))
            scene_list += batch
            latents.append(mean.numpy().astype(np.float16))
        buckets[size] = {'scenes': scene_list, 'latents': np.concatenate(latents)}
        log(work, f'data: bucket {size} {count} scenes ({time.time() - t0:.0f} s)')
    torch.set_num_threads(threads)
    allz = np.concatenate([b['latents'].reshape(-1).astype(np.float32) for b in buckets.values()])
    scaling = float(1.0 / allz.std())
    with open(path + '.tmp', 'wb') as f:
        pickle.dump({'buckets': buckets, 'scaling_factor': scaling, 'latent_mean': float(allz.mean())}, f)
    os.replace(path + '.tmp', path)
    log(work, f'data: scaling_factor {scaling:.5f} (latent mean {allz.mean():.4f}, std {allz.std():.4f})')


def make_text_encoder(work: str, r: dict) -> TextEncoder:
    tok = clip_bpe.Tokenizer.load(os.path.join(work, 'tokenizer'))
    c = r['text']
    return TextEncoder(len(tok.vocab), c['hidden_size'], c['num_layers'], c['num_heads'], c['intermediate_size'])


def encode_captions(tok: clip_bpe.Tokenizer, captions: list[str]) -> torch.Tensor:
    """Token ids cut after the longest EOS in the batch (see TextEncoder.forward's out_length)."""
    ids = [tok(c) for c in captions]
    cut = max(i.index(tok.eos_id) for i in ids) + 1
    return torch.tensor([i[:cut] for i in ids], dtype=torch.int64)


def aux_loss(heads: TextAuxHeads, pooled: torch.Tensor, targets: list[dict]) -> torch.Tensor:
    logits = heads(pooled)
    return sum(F.cross_entropy(logits[k], torch.tensor([t[k] for t in targets])) for k in logits) / len(logits)


def stage_text(work: str, r: dict) -> None:
    """Pre-trains the text encoder on the attribute heads alone, so the UNet starts from features in
    which colour roles are already separated."""
    path = os.path.join(work, 'text_pre.pt')
    if os.path.exists(path) or os.path.exists(os.path.join(work, 'unet_ckpt.pt')):
        return
    c = r['text']
    torch.manual_seed(r['seed'] + 3)
    tok = clip_bpe.Tokenizer.load(os.path.join(work, 'tokenizer'))
    te = make_text_encoder(work, r)
    heads = TextAuxHeads(c['hidden_size'], scenes.AUX_CLASSES)
    opt = torch.optim.AdamW(list(te.parameters()) + list(heads.parameters()), lr=c['lr'], weight_decay=0.01)
    rng = np.random.default_rng(r['seed'] + 3)
    for step in range(1, c['pretrain_steps'] + 1):
        batch = [scenes.sample_scene(rng, (128, 128)) for _ in range(c['pretrain_batch'])]
        ids = encode_captions(tok, [scenes.caption(s, rng) for s in batch])
        _, pooled = te(ids)
        loss = aux_loss(heads, pooled, [scenes.aux_targets(s) for s in batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            log(work, f'text step {step} aux loss {loss.item():.4f}')
    atomic_save({'text_encoder': te.state_dict(), 'heads': heads.state_dict()}, path)


def make_unet(r: dict) -> UNet2DConditionModel:
    c = r['unet']
    return UNet2DConditionModel(tuple(c['channels']), r['text']['hidden_size'], c['head_dim'],
                                c['layers_per_block'], tuple(c['attention']))


def stage_unet(work: str, r: dict, minutes: float, max_steps: int) -> None:
    c = r['unet']
    data = load_pickle(os.path.join(work, 'data.pkl'))
    scaling = data['scaling_factor']
    bucket_sizes = list(data['buckets'])
    torch.manual_seed(r['seed'] + 4)
    tok = clip_bpe.Tokenizer.load(os.path.join(work, 'tokenizer'))
    te = make_text_encoder(work, r)
    heads = TextAuxHeads(r['text']['hidden_size'], scenes.AUX_CLASSES)
    unet = make_unet(r)
    ema_unet = make_unet(r)
    ema_te = make_text_encoder(work, r)
    ema_unet.load_state_dict(unet.state_dict())
    ema_te.load_state_dict(te.state_dict())
    params = list(unet.parameters()) + list(te.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=c['lr'], weight_decay=c['weight_decay'])
    rng = np.random.default_rng(r['seed'] + 4)
    step, elapsed, warm_from = 0, 0.0, 0
    ckpt = os.path.join(work, 'unet_ckpt.pt')
    if os.path.exists(ckpt):
        s = torch.load(ckpt)
        unet.load_state_dict(s['unet'])
        te.load_state_dict(s['text_encoder'])
        heads.load_state_dict(s['heads'])
        ema_unet.load_state_dict(s['ema_unet'])
        ema_te.load_state_dict(s['ema_text_encoder'])
        step, elapsed, rng = s['step'], s['elapsed'], s['rng']
        if s.get('opt') is not None:
            opt.load_state_dict(s['opt'])
            warm_from = s.get('warm_from', 0)
        else:
            warm_from = step  # optimiser restarted from a packed checkpoint: warm up again
        torch.set_rng_state(s['torch_rng'])
    else:
        pre = torch.load(os.path.join(work, 'text_pre.pt'))
        te.load_state_dict(pre['text_encoder'])
        heads.load_state_dict(pre['heads'])
        ema_te.load_state_dict(te.state_dict())
    log(work, f'unet: {count_params(unet)} params, text encoder {count_params(te)}, from step {step}')
    acp = torch.from_numpy(alphas_cumprod()).float()
    start = time.time()
    last_save = last_log = start
    losses: list[float] = []

    def save():
        atomic_save({'unet': unet.state_dict(), 'text_encoder': te.state_dict(), 'heads': heads.state_dict(),
                     'ema_unet': ema_unet.state_dict(), 'ema_text_encoder': ema_te.state_dict(),
                     'opt': opt.state_dict(), 'warm_from': warm_from, 'step': step, 'elapsed': elapsed + time.time() - start,
                     'rng': rng, 'torch_rng': torch.get_rng_state(), 'scaling_factor': scaling,
                     'recipe': r}, ckpt)
        # A small EMA-only file the exporter can read at any time.
        atomic_save({'unet': ema_unet.state_dict(), 'text_encoder': ema_te.state_dict(), 'step': step,
                     'scaling_factor': scaling, 'elapsed': elapsed + time.time() - start}, os.path.join(work, 'ema.pt'))

    while step < max_steps and time.time() - start < minutes * 60:
        if os.path.exists(os.path.join(work, 'STOP')):
            break
        size = bucket_sizes[rng.choice(len(bucket_sizes), p=scenes.BUCKET_WEIGHTS)]
        b = data['buckets'][size]
        idx = rng.integers(0, len(b['scenes']), c['batch'])
        batch = [b['scenes'][i] for i in idx]
        z = torch.from_numpy(b['latents'][idx].astype(np.float32)) * scaling
        drop = rng.random(c['batch']) < c['caption_dropout']
        captions = ['' if d else scenes.caption(s, rng) for s, d in zip(batch, drop)]
        ids = encode_captions(tok, captions)
        ctx, pooled = te(ids, clip_bpe.MAX_LENGTH)
        keep = [i for i in range(c['batch']) if not drop[i]]
        la = aux_loss(heads, pooled[keep], [scenes.aux_targets(batch[i]) for i in keep])

        t = torch.from_numpy(rng.integers(0, 1000, c['batch']))
        noise = torch.randn_like(z) + c['offset_noise'] * torch.randn(z.shape[0], z.shape[1], 1, 1)
        a = acp[t][:, None, None, None]
        noisy = a.sqrt() * z + (1 - a).sqrt() * noise
        pred = unet(noisy, t.float(), ctx)
        # Min-SNR-gamma weighting for epsilon prediction (Hang et al. 2023): min(snr, gamma) / snr.
        snr = acp[t] / (1 - acp[t])
        w = torch.clamp(snr, max=c['min_snr_gamma']) / snr
        ld = ((pred - noise) ** 2).mean(dim=(1, 2, 3))
        loss = (w * ld).mean() + c['aux_weight'] * la
        lr = c['lr'] * min(1.0, (step - warm_from + 1) / c['warmup'])
        for g in opt.param_groups:
            g['lr'] = lr
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, c['grad_clip'])
        opt.step()
        step += 1
        decay = min(c['ema_decay'], (1 + step) / (10 + step))
        with torch.no_grad():
            for m, e in ((unet, ema_unet), (te, ema_te)):
                for p, q in zip(m.parameters(), e.parameters()):
                    q.mul_(decay).add_(p.detach(), alpha=1 - decay)
        losses.append(ld.mean().item())
        if step % 50 == 0:
            log(work, f'unet step {step} loss {np.mean(losses):.4f} aux {la.item():.3f} '
                      f'{(time.time() - last_log) / len(losses):.2f} s/step')
            losses = []
            last_log = time.time()
        if time.time() - last_save > 300:
            save()
            last_save = time.time()
    save()
    log(work, f'unet stopped at step {step}')


def seed_from_packed(work: str, path: str) -> None:
    """Turns a packed checkpoint (pack.py) into a work folder that the stages resume from."""
    if os.path.exists(os.path.join(work, 'unet_ckpt.pt')):
        return
    ck = torch.load(path)
    clip_bpe.save(os.path.join(work, 'tokenizer'), ck['merges'])
    atomic_save({'vae': ck['vae'], 'config': None, 'steps': ck['vae_steps']}, os.path.join(work, 'vae.pt'))
    full = lambda sd: {k: v.float() for k, v in sd.items()}  # noqa: E731
    atomic_save({'unet': full(ck['unet_fp16']), 'text_encoder': full(ck['text_encoder_fp16']), 'heads': ck['heads'],
                 'ema_unet': ck['ema_unet'], 'ema_text_encoder': ck['ema_text_encoder'], 'opt': None,
                 'step': ck['step'], 'elapsed': ck['elapsed'], 'rng': np.random.default_rng(RECIPE['seed'] + ck['step']),
                 'torch_rng': torch.manual_seed(RECIPE['seed'] + ck['step']).get_state(),
                 'scaling_factor': ck['scaling_factor']}, os.path.join(work, 'unet_ckpt.pt'))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--work', default=os.environ.get('IMGPROMPT_TRAIN_DIR',
                                                     os.path.expanduser('~/.cache/imgprompt-train')))
    ap.add_argument('--vae-minutes', type=float, default=30)
    ap.add_argument('--unet-minutes', type=float, default=90)
    ap.add_argument('--unet-steps', type=int, default=1_000_000)
    ap.add_argument('--toy', action='store_true', help='tiny sizes for the smoke test')
    ap.add_argument('--resume-from', help='packed checkpoint (tools/tiny_model/checkpoints/latest.pt) to continue')
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('IMGPROMPT_THREADS', '2')))
    r = json.loads(json.dumps(RECIPE))
    if args.toy:
        r['tokenizer_corpus'] = 300
        r['vae']['steps'] = 3
        r['vae']['batch'] = 2
        r['data']['scenes'] = 40
        r['text']['pretrain_steps'] = 2
        r['text']['pretrain_batch'] = 4
        r['unet']['batch'] = 4
    os.makedirs(args.work, exist_ok=True)
    with open(os.path.join(args.work, 'recipe.json'), 'w') as f:
        json.dump(r, f, indent=2)
    if args.resume_from:
        seed_from_packed(args.work, args.resume_from)
    stage_tokenizer(args.work, r)
    stage_vae(args.work, r, args.vae_minutes)
    stage_data(args.work, r)
    stage_text(args.work, r)
    stage_unet(args.work, r, args.unet_minutes, args.unet_steps)


if __name__ == '__main__':
    main()
