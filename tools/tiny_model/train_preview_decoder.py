"""Trains a tiny latent decoder for live step previews (the TAESD idea, much smaller): it maps the UNet's
scaled latents [b, 4, h, w] to an RGB image [b, 3, 8h, 8w] in [-1, 1] and is taught to reproduce the real
VAE decoder's output, so a preview looks like the final image at a fraction of the cost (docs/previews.md).

Data: fresh scenes rendered with their own seed and encoded with the trained VAE encoder (posterior
mean, the same pipeline as train.py's data stage); the data.pkl scenes the UNet learnt from are never
used for training and serve as the held-out set. Each batch is augmented the way intermediate
predictions look (blurred, shrunk towards the mean, noisy), or, with --trajectories, taken from the x0
predictions of real sampler runs; the target is the real decoder's output on exactly that input.
Loss: L1 + MSE. Resumable: the checkpoint (weights, optimiser, step, elapsed time, RNG) is saved every
minute; rerunning continues until --minutes in all.

The shipped model was trained on a GPU machine without the work folder, so the VAE and the held-out
latents travel in one small folder:

    /usr/bin/python3 -m tools.tiny_model.train_preview_decoder --pack-vae tools/tiny_model/runs/dev
    # there (a checkout's root), GPU: 5 minutes, then resumed to 8.5 minutes in all
    python3 -m tools.tiny_model.train_preview_decoder --work tools/tiny_model/runs/dev \
        --vae tools/tiny_model/runs/dev/vae.pt --checkpoint ck.pt \
        --pool-scenes 32000 --workers 14 --batch 128 --minutes 5 --eval
    # here, with ck.pt copied to WORK/preview_decoder.pt: fine-tune on CPU with sampler x0s, then export
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.train_preview_decoder --device cpu \
        --checkpoint WORK/preview_decoder_ft.pt --init WORK/preview_decoder.pt --lr 3e-4 \
        --pool-scenes 2000 --trajectories 480 --batch 16 --minutes 9
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.train_preview_decoder \
        --checkpoint WORK/preview_decoder_ft.pt --minutes 9 --steps 0 --pool-scenes 2000 --eval --export

On CPU (2 threads) the same script trains with e.g. --pool-scenes 2000 --batch 16. --export writes
models/tiny-shapes/preview_decoder/{model.onnx,config.json} (opset 17, input latent_sample, output
sample, dynamic batch / height / width; the output is clipped to [-1, 1] in the graph). --eval reports
PSNR against the real decoder on 200 held-out data.pkl latents and on sampler x0 predictions.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import scenes
from . import train
from .models import AutoencoderKL, count_params

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MODEL_DIR = os.path.join(REPO, 'models', 'tiny-shapes')
OPSET = 17

RECIPE = {
    'channels': [48, 32, 16],      # at 1x, 2x, 4x latent resolution; 8x comes from a depth-to-space
    'blocks': [2, 1, 1],           # extra residual 3x3 conv + ReLU layers at each of those resolutions
    'pool_scenes': 16000, 'seed_offset': 31, 'batch': 64, 'lr': 2e-3, 'min_lr_fraction': 0.05,
    'clean_fraction': 0.4,
}
# Held-out latents per bucket, taken from the end of each data.pkl bucket (200 in all).
HELD_OUT = {(128, 128): 100, (160, 96): 30, (96, 160): 30, (192, 96): 20, (96, 192): 20}


class ResConv(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return F.relu(x + self.conv(x))


class PreviewDecoder(nn.Module):
    """Scaled latents -> RGB at 8x: conv stem, two nearest-neighbour x2 upsamplings with a conv after
    each, then a conv to 12 channels and a depth-to-space x2. ReLU throughout, no normalisation."""

    def __init__(self, channels=(48, 32, 16), blocks=(2, 1, 1), latent_channels=4):
        super().__init__()
        self.config = {'channels': list(channels), 'blocks': list(blocks), 'latent_channels': latent_channels}
        layers: list[nn.Module] = [nn.Conv2d(latent_channels, channels[0], 3, padding=1), nn.ReLU()]
        for i, c in enumerate(channels):
            if i > 0:
                layers += [nn.Upsample(scale_factor=2, mode='nearest'), nn.Conv2d(channels[i - 1], c, 3, padding=1),
                           nn.ReLU()]
            layers += [ResConv(c) for _ in range(blocks[i])]
        layers += [nn.Conv2d(channels[-1], 12, 3, padding=1), nn.PixelShuffle(2)]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z)


class Exported(nn.Module):
    def __init__(self, m: PreviewDecoder):
        super().__init__()
        self.m = m

    def forward(self, latent_sample):
        return self.m(latent_sample).clamp(-1.0, 1.0)


def scaling_factor() -> float:
    with open(os.path.join(MODEL_DIR, 'vae_decoder', 'config.json'), encoding='utf-8') as f:
        return float(json.load(f)['scaling_factor'])


def load_vae(args) -> AutoencoderKL:
    """The trained VAE: a packed file (--vae, from --pack-vae) or the work folder's via train.load_vae."""
    if args.vae:
        s = torch.load(args.vae, map_location='cpu', weights_only=False)
        vae = AutoencoderKL(**s['config'])
        vae.load_state_dict(s['state'])
        return vae.eval()
    return train.load_vae(args.work, train.RECIPE)


def build_pool(vae: AutoencoderKL, n: int, seed: int, device: str, workers: int) -> dict:
    """Unscaled latent means of n fresh scenes, by bucket (train.py's data-stage pipeline)."""
    rng = np.random.default_rng(seed)
    pool: dict = {}
    # The render processes fork before the VAE moves to the device.
    with multiprocessing.get_context('fork').Pool(workers) if workers > 1 else _Serial() as p:
        vae = vae.to(device)
        for size, weight in zip(scenes.BUCKETS, scenes.BUCKET_WEIGHTS):
            count = int(round(n * weight))
            chunks = []
            for i in range(0, count, 256):
                batch = [scenes.sample_scene(rng, size, held_out=None) for _ in range(min(256, count - i))]
                images = p.map(scenes.render, batch)
                with torch.no_grad():
                    for j in range(0, len(images), 32):
                        mean, _ = vae.encode(train.to_tensor(images[j:j + 32]).to(device))
                        chunks.append(mean.cpu().half())
            pool[size] = torch.cat(chunks)
    return pool


class _Serial:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def map(fn, items):
        return [fn(x) for x in items]


def augment(z: torch.Tensor, gen: torch.Generator, clean_fraction: float) -> torch.Tensor:
    """Scaled latents -> latents like a sampler's intermediate x0 predictions: per item, optionally a
    blur (pooled and upsampled again), a shrink towards the item's channel means, and Gaussian noise."""
    b = z.shape[0]
    dev = z.device
    u = torch.rand(b, 4, generator=gen).to(dev)
    out = z.clone()
    keep = (u[:, 0] < clean_fraction).view(b, 1, 1, 1)
    h, w = z.shape[2], z.shape[3]
    k = 2 if h % 4 else 4
    blurred = F.interpolate(F.avg_pool2d(z, k), size=(h, w), mode='bilinear', align_corners=False)
    blur = (u[:, 1] < 0.4).view(b, 1, 1, 1)
    out = torch.where(blur, 0.5 * out + 0.5 * blurred, out)
    mean = out.mean(dim=(2, 3), keepdim=True)
    shrink = (0.3 + 0.7 * u[:, 2]).view(b, 1, 1, 1)
    out = mean + (out - mean) * shrink
    sigma = (0.6 * u[:, 3] ** 2).view(b, 1, 1, 1)
    out = out + sigma * torch.randn(z.shape, generator=gen).to(dev)
    return torch.where(keep, z, out)


def held_out_latents(work: str) -> list[tuple[tuple[int, int], torch.Tensor]]:
    """The last HELD_OUT latents of each data.pkl bucket (or of WORK/held_out.pt, a copy of them)."""
    copy = os.path.join(work, 'held_out.pt')
    if os.path.exists(copy):
        return torch.load(copy, weights_only=False)
    data = train.load_pickle(os.path.join(work, 'data.pkl'))
    return [(size, torch.from_numpy(data['buckets'][size]['latents'][-n:].astype(np.float32)))
            for size, n in HELD_OUT.items()]


def train_work_default() -> str:
    return os.environ.get('IMGPROMPT_TRAIN_DIR', os.path.expanduser('~/.cache/imgprompt-train'))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of images in [-1, 1] (peak-to-peak 2), over all pixels of the batch."""
    mse = F.mse_loss(a.clamp(-1, 1), b.clamp(-1, 1)).item()
    return 10 * math.log10(4.0 / max(mse, 1e-12))


def fit_linear(vae: AutoencoderKL, pool: dict, sf: float, n: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """The engine's fallback preview, fitted by least squares on the pool: rgb = W z + b per latent pixel,
    matched to the decoder output averaged over each 8x8 block."""
    rows, targets = [], []
    for size, z in pool.items():
        z = z[:max(1, n * z.shape[0] // sum(v.shape[0] for v in pool.values()))].float()
        with torch.no_grad():
            img = vae.decode(z).clamp(-1, 1)
        rows.append((z * sf).permute(0, 2, 3, 1).reshape(-1, 4))
        targets.append(F.avg_pool2d(img, 8).permute(0, 2, 3, 1).reshape(-1, 3))
    a = torch.cat(rows)
    a = torch.cat([a, torch.ones(a.shape[0], 1)], 1).double()
    sol = torch.linalg.lstsq(a, torch.cat(targets).double()).solution.float()
    return sol[:4], sol[4]


def evaluate(model: PreviewDecoder, vae: AutoencoderKL, sf: float, pool: dict | None, seed: int, work: str) -> dict:
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    lin = fit_linear(vae, pool, sf) if pool else None
    res: dict = {}
    errs = {'clean': [], 'augmented': [], 'linear_clean': []}
    counts = 0
    for size, z in held_out_latents(work):
        with torch.no_grad():
            zs = z * sf
            ref = vae.decode(z).clamp(-1, 1)
            pred = model(zs).clamp(-1, 1)
            errs['clean'].append(F.mse_loss(pred, ref, reduction='sum').item())
            za = augment(zs, gen, 0.0)
            errs['augmented'].append(F.mse_loss(model(za).clamp(-1, 1), vae.decode(za / sf).clamp(-1, 1),
                                                reduction='sum').item())
            if lin is not None:
                w, b = lin
                rgb = (zs.permute(0, 2, 3, 1) @ w + b).permute(0, 3, 1, 2)
                up = F.interpolate(rgb, scale_factor=8, mode='nearest').clamp(-1, 1)
                errs['linear_clean'].append(F.mse_loss(up, ref, reduction='sum').item())
        counts += ref.numel()
    for k, v in errs.items():
        if v:
            res[k] = round(10 * math.log10(4.0 / (sum(v) / counts)), 2)
    res['latents'] = sum(n for n in HELD_OUT.values())
    return res


@torch.no_grad()
def sampler_x0(work: str, n: int, seed: int, steps: int = 20) -> dict:
    """The x0 predictions (scaled latents, every step) of n sampler runs over the buckets, with guidance
    drawn from [3, 9] per batch of 16: what the engine's previews are made from."""
    from . import export
    from .sample import encode_prompts, initial_noise
    from .schedule import euler_schedule
    tok, te, unet, _, _, _ = export.load_components(work)
    rng = np.random.default_rng(seed)
    timesteps, sigmas, init_sigma = euler_schedule(steps)
    out: dict = {}
    for size, weight in zip(scenes.BUCKETS, scenes.BUCKET_WEIGHTS):
        count, xs = max(1, int(round(n * weight))), []
        for i in range(0, count, 16):
            b = min(16, count - i)
            cond = encode_prompts(tok, te, [scenes.caption(scenes.sample_scene(rng, size, held_out=None), rng)
                                            for _ in range(b)])
            uncond = encode_prompts(tok, te, [''] * b)
            latents = torch.cat([initial_noise(int(rng.integers(2 ** 31)), (1, 4, size[1] // 8, size[0] // 8))
                                 for _ in range(b)]) * init_sigma
            guidance = float(rng.uniform(3, 9))
            for j, t in enumerate(timesteps):
                sigma = float(sigmas[j])
                eps = unet(torch.cat([latents, latents]) / (sigma ** 2 + 1) ** 0.5, torch.full((2 * b,), float(t)),
                           torch.cat([uncond, cond]))
                eu, ec = eps.chunk(2)
                eps = eu + guidance * (ec - eu)
                xs.append((latents - sigma * eps).half())
                latents = latents + eps * (float(sigmas[j + 1]) - sigma)
        out[size] = torch.cat(xs)
    return out


@torch.no_grad()
def evaluate_trajectories(model: PreviewDecoder, work: str, sf: float, n: int = 8, steps: int = 20) -> dict:
    """PSNR of previews of real sampler states: n prompts, Euler with guidance 7.5 (sample.py's
    algorithm); at each step x0 = latents - sigma * eps (the engine's predOriginal) is decoded by both
    decoders. Returns mean PSNR (dB) at a few steps: preview vs real decoder of the same x0."""
    from . import export
    from .sample import encode_prompts, initial_noise
    from .schedule import euler_schedule
    tok, te, unet, vae, _, _ = export.load_components(work)
    rng = np.random.default_rng(train.RECIPE['seed'] + 5)
    prompts = [scenes.caption(scenes.sample_scene(rng, (128, 128)), rng) for _ in range(n)]
    cond, uncond = encode_prompts(tok, te, prompts), encode_prompts(tok, te, [''] * n)
    timesteps, sigmas, init_sigma = euler_schedule(steps)
    latents = torch.cat([initial_noise(1000 + i, (1, 4, 16, 16)) for i in range(n)]) * init_sigma
    out: dict = {}
    for i, t in enumerate(timesteps):
        sigma = float(sigmas[i])
        eps = unet(torch.cat([latents, latents]) / (sigma ** 2 + 1) ** 0.5, torch.full((2 * n,), float(t)),
                   torch.cat([uncond, cond]))
        eu, ec = eps.chunk(2)
        eps = eu + 7.5 * (ec - eu)
        x0 = latents - sigma * eps
        if i + 1 in (1, 2, 5, 10, 15, steps):
            out[f'step {i + 1}'] = round(psnr(model(x0), vae.decode(x0 / sf)), 2)
        latents = latents + eps * (float(sigmas[i + 1]) - sigma)
    return out


def export_onnx(model: PreviewDecoder, out: str, sf: float, info: dict) -> None:
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, 'model.onnx')
    with torch.no_grad():
        torch.onnx.export(Exported(model.eval()), (torch.randn(1, 4, 16, 16),), path + '.tmp',
                          input_names=['latent_sample'], output_names=['sample'], opset_version=OPSET,
                          dynamic_axes={'latent_sample': {0: 'batch', 2: 'height', 3: 'width'},
                                        'sample': {0: 'batch', 2: 'height', 3: 'width'}},
                          do_constant_folding=True)
    os.replace(path + '.tmp', path)
    config = {
        '_class_name': 'PreviewDecoder',
        'description': 'Tiny latent decoder for step previews, trained to imitate vae_decoder '
                       '(tools/tiny_model/train_preview_decoder.py).',
        'input': 'scaled',
        'scaling_factor': sf,
        'latent_channels': model.config['latent_channels'],
        'upscale_factor': 8,
        'output_range': [-1, 1],
        'channels': model.config['channels'],
        'blocks': model.config['blocks'],
        'parameters': count_params(model),
        **info,
    }
    with open(os.path.join(out, 'config.json'), 'w', encoding='utf-8') as f:
        json.dump(config, f, indent=2)
        f.write('\n')


def load_or_build(path: str, build, what: str):
    """The object saved at `path`, or built by `build()`, saved there atomically and timed."""
    if os.path.exists(path):
        return torch.load(path, weights_only=False)
    t0 = time.time()
    value = build()
    train.atomic_save(value, path)
    print(f'{what} in {time.time() - t0:.0f} s', flush=True)
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--work', default=train_work_default())
    ap.add_argument('--vae', help='packed VAE (from --pack-vae) instead of the work folder\'s')
    ap.add_argument('--pack-vae', metavar='DIR', help='write the work folder\'s VAE and the held-out latents '
                    'into DIR (vae.pt, held_out.pt) for a machine without the work folder, then stop')
    ap.add_argument('--checkpoint', help='default: WORK/preview_decoder.pt')
    ap.add_argument('--minutes', type=float, default=10, help='training time in all, resumes included')
    ap.add_argument('--steps', type=int, default=1_000_000)
    ap.add_argument('--pool-scenes', type=int, default=RECIPE['pool_scenes'])
    ap.add_argument('--channels', default=','.join(map(str, RECIPE['channels'])))
    ap.add_argument('--blocks', default=','.join(map(str, RECIPE['blocks'])))
    ap.add_argument('--batch', type=int, default=RECIPE['batch'])
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--workers', type=int, default=1, help='processes that render the pool')
    ap.add_argument('--init', metavar='CKPT', help='start a new checkpoint from these weights (fresh optimiser)')
    ap.add_argument('--lr', type=float, default=RECIPE['lr'], help='peak learning rate (cosine decay over --minutes)')
    ap.add_argument('--trajectories', type=int, default=0,
                    help='also train on the x0 predictions of this many sampler runs (WORK/preview_x0_N.pt)')
    ap.add_argument('--eval', action='store_true', help='PSNR on the held-out data.pkl latents')
    ap.add_argument('--export', nargs='?', const=os.path.join(MODEL_DIR, 'preview_decoder'), metavar='DIR')
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('IMGPROMPT_THREADS', '2')))
    os.makedirs(args.work, exist_ok=True)
    if args.pack_vae:
        os.makedirs(args.pack_vae, exist_ok=True)
        vae = train.load_vae(args.work, train.RECIPE)
        train.atomic_save({'config': {'channels': vae.config['block_out_channels'],
                                      'latent_channels': vae.config['latent_channels']},
                           'state': vae.state_dict()}, os.path.join(args.pack_vae, 'vae.pt'))
        train.atomic_save(held_out_latents(args.work), os.path.join(args.pack_vae, 'held_out.pt'))
        return
    ckpt = args.checkpoint or os.path.join(args.work, 'preview_decoder.pt')
    sf = scaling_factor()
    dev = args.device
    channels = [int(c) for c in args.channels.split(',')]
    blocks = [int(b) for b in args.blocks.split(',')]

    state = torch.load(ckpt, map_location='cpu', weights_only=False) if os.path.exists(ckpt) else None
    init = None if state or not args.init else torch.load(args.init, map_location='cpu', weights_only=False)
    if state or init:
        channels, blocks = (state or init)['config']['channels'], (state or init)['config']['blocks']
    model = PreviewDecoder(channels, blocks).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=RECIPE['lr'])
    step, elapsed, base_steps = 0, 0.0, 0
    gen = torch.Generator().manual_seed(train.RECIPE['seed'] + RECIPE['seed_offset'])
    rng = np.random.default_rng(train.RECIPE['seed'] + RECIPE['seed_offset'])
    if state:
        model.load_state_dict(state['model'])
        opt.load_state_dict(state['opt'])
        step, elapsed, base_steps = state['step'], state['elapsed'], state.get('base_steps', 0)
        rng.bit_generator.state = state['rng']
        gen.set_state(state['gen'])
    elif init:
        model.load_state_dict(init['model'])
        base_steps = init['step'] + init.get('base_steps', 0)
    print(f'preview decoder {channels} {blocks}: {count_params(model)} parameters, from step {step}', flush=True)

    pool = None
    need_training = elapsed < args.minutes * 60 and step < args.steps
    vae = load_vae(args)
    seed = train.RECIPE['seed'] + RECIPE['seed_offset']
    if need_training or args.eval:
        pool = load_or_build(
            os.path.join(args.work, f'preview_pool_{args.pool_scenes}.pt'),
            lambda: {k: v.cpu() for k, v in build_pool(vae, args.pool_scenes, seed + 1, dev, args.workers).items()},
            f'pool: {args.pool_scenes} scenes')
    x0s = None
    if need_training and args.trajectories:
        x0s = load_or_build(
            os.path.join(args.work, f'preview_x0_{args.trajectories}.pt'),
            lambda: sampler_x0(args.work, args.trajectories, seed + 2),
            f'sampler x0: {args.trajectories} runs')

    def save():
        train.atomic_save({'model': {k: v.cpu() for k, v in model.state_dict().items()}, 'opt': opt.state_dict(),
                           'step': step, 'elapsed': elapsed, 'rng': rng.bit_generator.state, 'gen': gen.get_state(),
                           'config': model.config, 'base_steps': base_steps}, ckpt)

    if need_training:
        vae = vae.to(dev)
        for p in vae.parameters():
            p.requires_grad_(False)
        sizes = list(pool)
        weights = np.array([pool[s].shape[0] for s in sizes], dtype=np.float64)
        total = args.minutes * 60
        model.train()
        start = last_save = time.time()
        losses = []
        while step < args.steps:
            now = elapsed + time.time() - start
            if now >= total:
                break
            lr = args.lr * (RECIPE['min_lr_fraction'] + (1 - RECIPE['min_lr_fraction'])
                                 * 0.5 * (1 + math.cos(math.pi * now / total)))
            for g in opt.param_groups:
                g['lr'] = lr
            size = sizes[rng.choice(len(sizes), p=weights / weights.sum())]
            idx = rng.integers(0, pool[size].shape[0], args.batch)
            if x0s is not None and rng.random() < 0.5:
                z = x0s[size][rng.integers(0, x0s[size].shape[0], args.batch)].float().to(dev)
            else:
                z = augment(pool[size][idx].float().to(dev) * sf, gen, RECIPE['clean_fraction'])
            if rng.random() < 0.5:
                z = z.flip(3)
            with torch.no_grad():
                target = vae.decode(z / sf).clamp(-1, 1)
            pred = model(z)
            loss = F.l1_loss(pred, target) + F.mse_loss(pred, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            losses.append(F.mse_loss(pred.detach().clamp(-1, 1), target).item() if step % 10 == 0 else None)
            if step % (500 if dev == 'cuda' else 50) == 0:
                m = [x for x in losses if x is not None]
                print(f'{time.strftime("%H:%M:%S")} step {step} train psnr {10 * math.log10(4 / np.mean(m)):.2f} dB '
                      f'lr {lr:.2e} ({now:.0f} s)', flush=True)
                losses = []
            if time.time() - last_save > 60:
                elapsed += time.time() - start
                start = last_save = time.time()
                save()
        elapsed += time.time() - start
        save()
        print(f'stopped at step {step} after {elapsed:.0f} s', flush=True)

    model = model.cpu().eval()
    vae = vae.cpu()
    info = {'training_steps': base_steps + step}
    if args.eval:
        res = evaluate(model, vae, sf, pool, train.RECIPE['seed'] + 7, args.work)
        print('held-out psnr vs vae_decoder (dB):', json.dumps(res), flush=True)
        info['held_out_psnr_db'] = res['clean']
        res = evaluate_trajectories(model, args.work, sf)
        print('sampler x0 previews, psnr vs vae_decoder (dB):', json.dumps(res), flush=True)
        info['sampler_x0_psnr_db'] = res
    if args.export:
        export_onnx(model, args.export, sf, info)
        print(f'exported to {os.path.relpath(args.export, REPO)}', flush=True)


if __name__ == '__main__':
    main()
