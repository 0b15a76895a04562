#!/usr/bin/env python3
"""Writes test/fixtures/reference/lcm/: the guidance-scale embedding of LCM-distilled UNets and a tiny UNet
that takes it, with a full LCM sampling loop computed in torch, for src/engine/pipeline and model/unet.ts.

- guidance_embedding.json: diffusers' LatentConsistencyModelPipeline.get_guidance_scale_embedding (after
  VDM's timestep embedding), restated here in torch float32: w = guidance_scale - 1 (the pipelines' Imagen
  CFG convention), w * 1000, frequencies exp(-i * log(10000) / (dim / 2 - 1)), [sin, cos], a zero column
  for an odd dim. StableDiffusionPipeline feeds the same embedding as `timestep_cond` whenever
  unet.config.time_cond_proj_dim is set, and then runs without classifier-free guidance (batch 1).
- unet/model.onnx + unet/config.json: a few-KB stand-in for an optimum export of an LCM UNet: inputs
  sample [1, 4, H, W], timestep int64 [1], encoder_hidden_states [1, S, D] and timestep_cond [1, 8]
  (time_cond_proj_dim 8), output out_sample. Batch is fixed at 1, so a pipeline that feeds it a CFG batch
  of 2 fails. Its output depends on all four inputs and stays near the identity (a noise prediction).
- loop.json: 4 LCM steps (LCMScheduler, original_inference_steps 50, scaled_linear 0.00085..0.012,
  epsilon) over that UNet at guidance 8.5, as diffusers' pipeline runs them: latents and the re-noising
  draws from one torch.Generator().manual_seed(SEED), the embedding constant over the steps.

Run with Debian's torch and python3-onnx (tools only, never at run time):
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.reference.make_lcm_fixtures
Tensors are stored as base64 of little-endian float32. Deterministic: same seeds, same files.
"""
import base64
import json
import os

import numpy as np
import torch
from torch import nn

torch.set_num_threads(1)
OUT = os.path.join('test', 'fixtures', 'reference', 'lcm')
OPSET = 17
COND_DIM = 8
EMBEDDING_CASES = [(8.5, 256), (8.0, 256), (1.0, 256), (2.0, 512), (4.5, 512), (0.0, 256), (8.5, 8), (3.0, 7)]
LOOP = {'guidance': 8.5, 'steps': 4, 'seed': 1234, 'latent': [1, 4, 8, 8], 'hidden': [1, 8, 16]}
SCHEDULER = {
    '_class_name': 'LCMScheduler',
    'beta_start': 0.00085,
    'beta_end': 0.012,
    'beta_schedule': 'scaled_linear',
    'num_train_timesteps': 1000,
    'original_inference_steps': 50,
    'prediction_type': 'epsilon',
    'set_alpha_to_one': True,
    'timestep_scaling': 10.0,
    'clip_sample': False,
}


def b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.detach().contiguous().to(torch.float32).numpy().astype('<f4').tobytes()).decode('ascii')


def guidance_scale_embedding(w: torch.Tensor, embedding_dim: int) -> torch.Tensor:
    """get_guidance_scale_embedding, operation by operation (w is the 1-d tensor of guidance_scale - 1)."""
    w = w * 1000.0
    half_dim = embedding_dim // 2
    emb = torch.log(torch.tensor(10000.0)) / (half_dim - 1)
    emb = torch.exp(torch.arange(half_dim, dtype=torch.float32) * -emb)
    emb = w.to(torch.float32)[:, None] * emb[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    if embedding_dim % 2 == 1:
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb


class TinyLCMUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.cond = nn.Linear(COND_DIM, 4)
        self.freq = nn.Parameter(torch.tensor([0.5, 1.3, 2.1, 3.7]))

    def forward(self, sample, timestep, encoder_hidden_states, timestep_cond):
        t = timestep.to(torch.float32)[:, None] / 1000.0
        gate = torch.tanh(self.cond(timestep_cond) + torch.sin(t * self.freq))
        # Close to the identity, as a noise prediction at high noise is: the loop stays at unit scale.
        return sample + 0.2 * self.conv(sample) * (1 + 0.5 * gate)[:, :, None, None] + 0.05 * encoder_hidden_states.mean()


def lcm_loop(unet, hidden, embedding):
    n = SCHEDULER['num_train_timesteps']
    betas = torch.linspace(SCHEDULER['beta_start'] ** 0.5, SCHEDULER['beta_end'] ** 0.5, n, dtype=torch.float32) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    original = SCHEDULER['original_inference_steps']
    k = n // original
    origin = (np.asarray(list(range(1, original + 1))) * k - 1)[::-1].copy()
    indices = np.floor(np.linspace(0, len(origin), num=LOOP['steps'], endpoint=False)).astype(np.int64)
    timesteps = torch.from_numpy(origin[indices]).to(torch.long)
    generator = torch.Generator().manual_seed(LOOP['seed'])
    latents = torch.randn(LOOP['latent'], generator=generator)  # init_noise_sigma is 1
    for i, t in enumerate(timesteps):
        out = unet(latents, t.reshape(1), hidden, embedding)
        last = i == len(timesteps) - 1
        prev_t = t if last else timesteps[i + 1]
        a = alphas_cumprod[t]
        a_prev = alphas_cumprod[prev_t]
        scaled = t * SCHEDULER['timestep_scaling']
        c_skip = 0.5 ** 2 / (scaled ** 2 + 0.5 ** 2)
        c_out = scaled / (scaled ** 2 + 0.5 ** 2) ** 0.5
        x0 = (latents - (1 - a).sqrt() * out) / a.sqrt()
        denoised = c_out * x0 + c_skip * latents
        if last:
            latents = denoised
        else:
            noise = torch.randn(out.shape, generator=generator)
            latents = a_prev.sqrt() * denoised + (1 - a_prev).sqrt() * noise
    return timesteps, latents


def main() -> None:
    os.makedirs(os.path.join(OUT, 'unet'), exist_ok=True)
    cases = []
    for guidance, dim in EMBEDDING_CASES:
        w = torch.tensor(guidance - 1).repeat(1)
        emb = guidance_scale_embedding(w, dim)
        # The argument of sin/cos: an ulp of a frequency moves it by up to |w| * 1000 * 2^-24.
        cases.append({'guidance': guidance, 'dim': dim, 'embedding': b64(emb[0]), 'maxArgument': abs(guidance - 1) * 1000.0})
    with open(os.path.join(OUT, 'guidance_embedding.json'), 'w') as f:
        json.dump({'torch': torch.__version__, 'cases': cases}, f, indent=1)
        f.write('\n')

    torch.manual_seed(16)
    unet = TinyLCMUNet().eval()
    path = os.path.join(OUT, 'unet', 'model.onnx')
    hidden = torch.randn(LOOP['hidden'], generator=torch.Generator().manual_seed(99))
    embedding = guidance_scale_embedding(torch.tensor(LOOP['guidance'] - 1).repeat(1), COND_DIM)
    args = (torch.randn(LOOP['latent']), torch.tensor([999]), hidden, embedding)
    torch.onnx.export(
        unet, args, path, opset_version=OPSET,
        input_names=['sample', 'timestep', 'encoder_hidden_states', 'timestep_cond'], output_names=['out_sample'],
        dynamic_axes={'sample': {2: 'height', 3: 'width'}, 'encoder_hidden_states': {1: 'sequence', 2: 'width'}, 'out_sample': {2: 'height', 3: 'width'}},
        do_constant_folding=True,
    )
    config = {
        '_class_name': 'UNet2DConditionModel', 'sample_size': 16, 'in_channels': 4, 'out_channels': 4,
        'block_out_channels': [32, 64, 128], 'cross_attention_dim': 128, 'time_cond_proj_dim': COND_DIM,
        'imgprompt_note': 'tools/reference/make_lcm_fixtures.py: a stand-in with the interface of an LCM UNet export',
    }
    with open(os.path.join(OUT, 'unet', 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)
        f.write('\n')

    with torch.no_grad():
        timesteps, final = lcm_loop(unet, hidden, embedding)
    with open(os.path.join(OUT, 'loop.json'), 'w') as f:
        json.dump({'torch': torch.__version__, 'scheduler': SCHEDULER, **LOOP, 'timesteps': timesteps.tolist(),
                   'hiddenStates': b64(hidden), 'timestepCond': b64(embedding[0]), 'final': b64(final)}, f, indent=1)
        f.write('\n')
    print(f'wrote {OUT}: {len(cases)} embeddings, unet/model.onnx, loop.json (timesteps {timesteps.tolist()}, '
          f'|final| max {final.abs().max().item():.3f}, finite {bool(torch.isfinite(final).all())})')


if __name__ == '__main__':
    main()
