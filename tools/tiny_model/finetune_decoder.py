"""Fine-tunes the VAE decoder with the encoder frozen (as Stable Diffusion's ft-MSE decoder was made), on
whole images of every bucket so borders are learnt too. Latents do not change, so this can run while or
after the UNet trains. Resumable; writes vae_decoder_ft.pt into the work folder, which load_vae prefers.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.finetune_decoder --minutes 20
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import scenes
from . import train

RECIPE = {'batch': 6, 'lr': 5e-4, 'seed_offset': 11}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--work', default=os.environ.get('IMGPROMPT_TRAIN_DIR',
                                                     os.path.expanduser('~/.cache/imgprompt-train')))
    ap.add_argument('--minutes', type=float, default=20)
    ap.add_argument('--steps', type=int, default=1_000_000)
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('IMGPROMPT_THREADS', '2')))
    r = train.RECIPE
    vae = train.load_vae(args.work, r)
    path = os.path.join(args.work, 'vae_decoder_ft.pt')
    opt = torch.optim.Adam(list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters()), lr=RECIPE['lr'])
    step = 0
    rng = np.random.default_rng(r['seed'] + RECIPE['seed_offset'])
    if os.path.exists(path):
        s = torch.load(path)
        opt.load_state_dict(s['opt'])
        step, rng = s['step'], s['rng']
    vae.decoder.train()
    start = last_save = time.time()

    def save():
        train.atomic_save({'decoder': vae.decoder.state_dict(), 'post_quant_conv': vae.post_quant_conv.state_dict(),
                           'opt': opt.state_dict(), 'step': step, 'rng': rng}, path)

    mses = []
    while time.time() - start < args.minutes * 60 and step < args.steps:
        size = scenes.sample_bucket(rng)
        x = train.to_tensor([scenes.render(scenes.sample_scene(rng, size)) for _ in range(RECIPE['batch'])])
        with torch.no_grad():
            mean, _ = vae.encode(x)
        rec = vae.decode(mean)
        mse = F.mse_loss(rec, x)
        loss = mse + 0.5 * (rec - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        mses.append(mse.item())
        if step % 50 == 0:
            train.log(args.work, f'decoder step {step} psnr {10 * np.log10(4.0 / np.mean(mses)):.1f} dB')
            mses = []
        if time.time() - last_save > 120:
            save()
            last_save = time.time()
    save()
    train.log(args.work, f'decoder fine-tune stopped at step {step}')


if __name__ == '__main__':
    main()
