"""Shared pieces of the adapter trainers (train_lora.py, train_controlnet.py): base model loading, the
work folder, logging, and the diffusion loss of train.py (same schedule, offset noise, min-SNR weighting)."""
from __future__ import annotations

import hashlib
import os
import time

import numpy as np
import torch

from . import export
from . import train
from .schedule import alphas_cumprod

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_CHECKPOINT = os.path.join(HERE, 'checkpoints', 'latest.pt')
DEFAULT_WORK = os.environ.get('IMGPROMPT_TRAIN_DIR', os.path.expanduser('~/.cache/imgprompt-train'))


def adapter_dir(work: str) -> str:
    d = os.path.join(work, 'adapters')
    os.makedirs(d, exist_ok=True)
    return d


def log(work: str, msg: str) -> None:
    line = time.strftime('%H:%M:%S ') + msg
    print(line, flush=True)
    with open(os.path.join(adapter_dir(work), 'log.txt'), 'a') as f:
        f.write(line + '\n')


def load_base(checkpoint: str):
    """(tok, text encoder, unet, vae, scaling, info) with every parameter frozen."""
    comp = export.load_components(checkpoint)
    for m in comp[1:4]:
        for p in m.parameters():
            p.requires_grad_(False)
    return comp


def encoder_hash(vae) -> str:
    """Fingerprint of the VAE encoder weights: latent caches are rebuilt when it changes."""
    h = hashlib.sha256()
    for k, v in sorted(list(vae.encoder.state_dict().items()) + list(vae.quant_conv.state_dict().items())):
        h.update(k.encode())
        h.update(v.detach().float().numpy().tobytes())
    return h.hexdigest()[:16]


def checkpoint_id(path: str) -> str:
    """Step count and size of a packed base checkpoint, recorded in adapter files."""
    ck = torch.load(path, map_location='cpu') if os.path.isfile(path) else None
    return f'tiny-shapes@{ck["step"]}' if ck else 'tiny-shapes'


def load_plain_data(work: str):
    path = os.path.join(work, 'data.pkl')
    if not os.path.exists(path):
        return None
    return train.load_pickle(path)


def encode_latents(vae, images: list[np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        mean, _ = vae.encode(train.to_tensor(images))
    return mean.numpy().astype(np.float16)


class DiffusionLoss:
    """train.py's UNet objective: eps prediction, offset noise, min-SNR-gamma weights."""

    def __init__(self, recipe: dict = train.RECIPE):
        self.c = recipe['unet']
        self.acp = torch.from_numpy(alphas_cumprod()).float()

    def noisy(self, z: torch.Tensor, rng: np.random.Generator):
        t = torch.from_numpy(rng.integers(0, 1000, z.shape[0]))
        noise = torch.randn_like(z) + self.c['offset_noise'] * torch.randn(z.shape[0], z.shape[1], 1, 1)
        a = self.acp[t][:, None, None, None]
        return a.sqrt() * z + (1 - a).sqrt() * noise, t, noise

    def __call__(self, pred: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        snr = self.acp[t] / (1 - self.acp[t])
        w = torch.clamp(snr, max=self.c['min_snr_gamma']) / snr
        return (w * ((pred - noise) ** 2).mean(dim=(1, 2, 3))).mean()


def optimizer_step(opt, params, loss, lr: float) -> None:
    """One adapter training step: set the learning rate, backpropagate, clip the gradient norm to 1, step."""
    for g in opt.param_groups:
        g['lr'] = lr
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()


def atomic_save(obj, path: str) -> None:
    train.atomic_save(obj, path)
