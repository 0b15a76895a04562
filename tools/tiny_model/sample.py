"""Text-to-image with the PyTorch tiny-shapes model: Euler (diffusers EulerDiscreteScheduler semantics,
leading spacing) with classifier-free guidance, the same algorithm the TypeScript engine runs.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.sample "a red circle on the left, blue background" out.png
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from PIL import Image

from . import clip_bpe
from .schedule import euler_schedule


def encode_prompts(tok: clip_bpe.Tokenizer, te, prompts: list[str]) -> torch.Tensor:
    ids = torch.tensor([tok(p) for p in prompts], dtype=torch.int64)
    return te(ids)[0]


def initial_noise(seed: int, shape) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def generate(tok, te, unet, vae, scaling: float, prompts: list[str], seeds: list[int], size=(128, 128),
             steps: int = 20, guidance: float = 7.5, negative: str = '', trajectory: list | None = None):
    """uint8 images [B, H, W, 3]. Classifier-free guidance batches [negative, positive] like diffusers."""
    w, h = size
    b = len(prompts)
    cond = encode_prompts(tok, te, prompts)
    uncond = encode_prompts(tok, te, [negative] * b)
    timesteps, sigmas, init_sigma = euler_schedule(steps)
    latents = torch.cat([initial_noise(s, (1, 4, h // 8, w // 8)) for s in seeds]) * init_sigma
    ctx = torch.cat([uncond, cond])
    for i, t in enumerate(timesteps):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        model_in = torch.cat([latents, latents]) / (sigma ** 2 + 1) ** 0.5
        eps = unet(model_in, torch.full((2 * b,), float(t)), ctx)
        eps_u, eps_c = eps.chunk(2)
        eps = eps_u + guidance * (eps_c - eps_u)
        # Euler step on the probability-flow ODE: d = (x - x0) / sigma = eps.
        latents = latents + eps * (sigma_next - sigma)
        if trajectory is not None:
            trajectory.append(latents.clone())
    image = vae.decode(latents / scaling)
    image = ((image / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    return image.permute(0, 2, 3, 1).numpy()


def main() -> None:
    from . import export
    ap = argparse.ArgumentParser()
    ap.add_argument('prompt')
    ap.add_argument('out')
    ap.add_argument('--seed', type=int, default=42)
    ap.add_argument('--width', type=int, default=128)
    ap.add_argument('--height', type=int, default=128)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--guidance', type=float, default=7.5)
    ap.add_argument('--work', default=os.environ.get('IMGPROMPT_TRAIN_DIR',
                                                     os.path.expanduser('~/.cache/imgprompt-train')))
    args = ap.parse_args()
    torch.set_num_threads(2)
    tok, te, unet, vae, scaling, _ = export.load_components(args.work)
    img = generate(tok, te, unet, vae, scaling, [args.prompt], [args.seed], (args.width, args.height),
                   args.steps, args.guidance)
    Image.fromarray(np.ascontiguousarray(img[0])).save(args.out)


if __name__ == '__main__':
    main()
