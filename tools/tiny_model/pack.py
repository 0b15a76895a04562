"""Packs the training state into one compact, self-contained checkpoint (<= ~40 MB),
tools/tiny_model/checkpoints/latest.pt (a build output git ignores; README.md says how to get the shipped
one): tokenizer merges, VAE, EMA weights (float32, what is exported and
evaluated), raw training weights (float16) and the attribute heads. The optimiser state is left out to
stay small; `train.py --resume-from` restarts it with a short warm-up.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.pack [--work DIR] [--out PATH]
"""
from __future__ import annotations

import argparse
import json
import os

import torch

from . import clip_bpe
from . import train

HERE = os.path.dirname(os.path.abspath(__file__))


def pack(work: str, out: str, summary_path: str = os.path.join(HERE, 'results', 'training.json')) -> None:
    s = torch.load(os.path.join(work, 'unet_ckpt.pt'))
    tok = clip_bpe.Tokenizer.load(os.path.join(work, 'tokenizer'))
    vae = torch.load(os.path.join(work, 'vae.pt'))
    vae['vae'] = train.load_vae(work, train.RECIPE).state_dict()
    half = lambda sd: {k: v.half() for k, v in sd.items()}  # noqa: E731
    ck = {
        'format': 'imgprompt-tiny-shapes-checkpoint-1',
        'merges': sorted(tok.ranks, key=tok.ranks.get),
        'recipe': train.RECIPE,
        'vae': vae['vae'],
        'vae_steps': vae['steps'],
        'ema_unet': s['ema_unet'],
        'ema_text_encoder': s['ema_text_encoder'],
        'unet_fp16': half(s['unet']),
        'text_encoder_fp16': half(s['text_encoder']),
        'heads': s['heads'],
        'step': s['step'],
        'elapsed': s['elapsed'],
        'scaling_factor': s['scaling_factor'],
    }
    os.makedirs(os.path.dirname(out), exist_ok=True)
    torch.save(ck, out + '.tmp')
    os.replace(out + '.tmp', out)
    print(f'{out}: step {s["step"]}, {os.path.getsize(out) / 1e6:.1f} MB')
    summary = {'unet_steps': s['step'], 'unet_seconds': round(s['elapsed']), 'vae_steps': vae['steps'],
               'checkpoint_mb': round(os.path.getsize(out) / 1e6, 1), 'log_tail': []}
    log_path = os.path.join(work, 'log.txt')
    if os.path.exists(log_path):
        lines = open(log_path).read().splitlines()
        summary['log_tail'] = [ln for ln in lines if ' step ' in ln][-40:]
        summary['log_vae'] = [ln for ln in lines if ln[9:].startswith('vae step')][-1:]
        summary['log_decoder'] = [ln for ln in lines if 'decoder step' in ln][-1:]
        summary['log_text'] = [ln for ln in lines if 'text step' in ln][-1:]
        summary['log_data'] = [ln for ln in lines if 'scaling_factor' in ln][-1:]
    os.makedirs(os.path.dirname(summary_path), exist_ok=True)
    with open(summary_path, 'w') as f:
        json.dump(summary, f, indent=1)
        f.write('\n')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--work', default=os.environ.get('IMGPROMPT_TRAIN_DIR',
                                                     os.path.expanduser('~/.cache/imgprompt-train')))
    ap.add_argument('--out', default=os.path.join(HERE, 'checkpoints', 'latest.pt'))
    ap.add_argument('--summary', default=os.path.join(HERE, 'results', 'training.json'),
                    help='where the training summary for the model card goes')
    args = ap.parse_args()
    pack(args.work, args.out, args.summary)


if __name__ == '__main__':
    main()
