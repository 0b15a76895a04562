"""Writes the engine's reference fixtures (test/fixtures/reference/model/) from the PyTorch model that
models/tiny-shapes/ was exported from, so onnxruntime can be checked against torch.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.make_fixtures [--source latest.pt]

Float tensors are stored as {"shape": [...], "dtype": "float32", "base64": <little-endian float32>}.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os

import numpy as np
import torch

from . import export
from . import scenes
from .sample import generate
from .schedule import euler_schedule

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, 'test', 'fixtures', 'reference', 'model')

TOKENIZER_CASES = [
    '',
    'a red circle on the left, blue background',
    'small yellow square at the top right; black background',
    'On a GREEN background,   a large   purple triangle in the center.',
    'an orange circle bottom left - background white',
    'a photo of an astronaut riding a horse',
    "it's a cat's toy: 3 cubes, 12 balls & 1 dog!",
    'café naïve über — “quotes”',
    'tab\tand\nnewline   spaces',
    'backgroundbackground redblue circles squares',
    'x' * 40,
    ' '.join(['red circle'] * 60),
]

TEXT_PROMPTS = ['', 'a red circle on the left, blue background', 'large white square at the bottom right; black background']
TRAJECTORY = {'prompt': 'a large red circle on the left, on a blue background', 'negative': '', 'seed': 42,
              'width': 128, 'height': 128, 'steps': 10, 'guidance': 7.5}
RANDN_CASES = [(0, [4]), (42, [15]), (42, [16]), (42, [17]), (42, [1, 4, 16, 16]), (1234, [2, 4, 12, 20]),
               (2 ** 32 + 7, [1, 4, 8, 8]), (2 ** 63 - 1, [100]), (7, [1, 4, 64, 64])]


def tensor(x) -> dict:
    a = np.ascontiguousarray(np.asarray(x, dtype='<f4'))
    return {'shape': list(a.shape), 'dtype': 'float32', 'base64': base64.b64encode(a.tobytes()).decode('ascii')}


def write(name: str, obj: dict) -> None:
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write('\n')


def file_sha256(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--source', default=os.path.join(HERE, 'checkpoints', 'latest.pt'))
    ap.add_argument('--model', default=os.path.join(REPO, 'models', 'tiny-shapes'))
    args = ap.parse_args()
    torch.set_num_threads(2)
    tok, te, unet, vae, scaling, info = export.load_components(args.source)
    onnx_hashes = {c: file_sha256(os.path.join(args.model, c, 'model.onnx'))
                   for c in ('text_encoder', 'unet', 'vae_decoder', 'vae_encoder')}
    common = {'generated_by': 'tools/tiny_model/make_fixtures.py', 'torch_version': torch.__version__,
              'model': 'models/tiny-shapes', 'model_steps': info['unet_steps'], 'onnx_sha256': onnx_hashes}

    write('tokenizer.json', {
        **common,
        'description': 'CLIPTokenizer behaviour of models/tiny-shapes/tokenizer: BOS + BPE ids + EOS, truncated to '
                       '77 keeping EOS, padded with <|endoftext|>. ids are the full padded sequences.',
        'bos_id': tok.bos_id, 'eos_id': tok.eos_id, 'pad_id': tok.eos_id, 'max_length': 77,
        'cases': [{'text': t, 'ids': tok(t), 'tokens_without_special': len(tok.tokenize(t))} for t in TOKENIZER_CASES],
    })

    ids = torch.tensor([tok(p) for p in TEXT_PROMPTS], dtype=torch.int64)
    hidden, pooled = te(ids)
    write('text_encoder.json', {
        **common, 'description': 'text_encoder/model.onnx: input_ids (int32 [3, 77]) -> outputs',
        'prompts': TEXT_PROMPTS, 'input_ids': ids.tolist(),
        'last_hidden_state': tensor(hidden), 'pooler_output': tensor(pooled), 'tolerance_abs': 1e-4,
    })

    latent = torch.randn([1, 4, 16, 16], generator=torch.Generator().manual_seed(1))
    decoded = vae.decode(latent)
    write('vae_decoder.json', {
        **common, 'description': 'vae_decoder/model.onnx: latent_sample = torch.randn([1,4,16,16], seed 1) -> sample',
        'latent_sample': tensor(latent), 'sample': tensor(decoded), 'tolerance_abs': 1e-3,
    })

    rng = np.random.default_rng(5)
    scene = scenes.sample_scene(rng, (160, 96))
    image = torch.from_numpy(np.array(scenes.render(scene))).permute(2, 0, 1)[None].float() / 127.5 - 1
    mean = vae.encode(image)[0]
    write('vae_encoder.json', {
        **common,
        'description': 'vae_encoder/model.onnx: sample (a 160x96 rendered scene in [-1, 1]) -> latent_sample '
                       '(posterior mean, unscaled; the pipeline multiplies by scaling_factor)',
        'scaling_factor': scaling, 'sample': tensor(image), 'latent_sample': tensor(mean),
        # Unscaled latents reach magnitudes near 10; measured ORT vs torch difference about 1e-4.
        'tolerance_abs': 5e-4,
    })

    sample = torch.randn([2, 4, 16, 16], generator=torch.Generator().manual_seed(2))
    ts = torch.tensor([981.0, 401.0])
    ctx = te(torch.tensor([tok(''), tok('a blue triangle at the top; yellow background')]))[0]
    out = unet(sample, ts, ctx)
    write('unet.json', {
        **common, 'description': 'unet/model.onnx: one call with batch 2 (different timesteps per item)',
        'prompts_of_encoder_hidden_states': ['', 'a blue triangle at the top; yellow background'],
        'sample': tensor(sample), 'timestep': tensor(ts), 'encoder_hidden_states': tensor(ctx),
        'out_sample': tensor(out), 'tolerance_abs': 1e-4,
    })

    c = TRAJECTORY
    timesteps, sigmas, init_sigma = euler_schedule(c['steps'])
    noise = torch.randn([1, 4, c['height'] // 8, c['width'] // 8], generator=torch.Generator().manual_seed(c['seed']))
    traj: list[torch.Tensor] = []
    img = generate(tok, te, unet, vae, scaling, [c['prompt']], [c['seed']], (c['width'], c['height']),
                   c['steps'], c['guidance'], c['negative'], traj)
    decoded = vae.decode(traj[-1] / scaling)
    write('trajectory.json', {
        **common,
        **c,
        'scheduler': 'EulerDiscreteScheduler (diffusers semantics), leading spacing, steps_offset 1',
        'algorithm': [
            'betas = linspace(sqrt(0.00085), sqrt(0.012), 1000, float32)^2; alphas_cumprod = cumprod(1 - betas) (float32)',
            'sigmas_train = sqrt((1 - alphas_cumprod) / alphas_cumprod)',
            'timesteps = reverse(round(arange(0, steps) * (1000 // steps))) + 1  (leading spacing, steps_offset 1)',
            'sigmas = interp(timesteps, arange(1000), sigmas_train) (linear), then append 0',
            'init_noise_sigma = sqrt(max(sigmas)^2 + 1)',
            'latents = torch.randn([1, 4, height/8, width/8], generator=torch.Generator().manual_seed(seed)) * init_noise_sigma',
            'cond = text_encoder(tokenize(prompt)).last_hidden_state; uncond = same for negative ("")',
            'for i in 0..steps-1: x_in = latents / sqrt(sigmas[i]^2 + 1), batched as [x_in, x_in];',
            '  eps_u, eps_c = unet(sample=[x_in, x_in], timestep=[t_i, t_i] (float32), encoder_hidden_states=[uncond, cond]);',
            '  eps = eps_u + guidance * (eps_c - eps_u); latents = latents + eps * (sigmas[i + 1] - sigmas[i])',
            'image = vae_decoder(latent_sample = latents / scaling_factor); pixels = round(clamp(image / 2 + 0.5, 0, 1) * 255)',
        ],
        'scaling_factor': scaling,
        'prompt_ids': tok(c['prompt']), 'negative_ids': tok(c['negative']),
        'timesteps': [float(t) for t in timesteps], 'sigmas': [float(s) for s in sigmas],
        'init_noise_sigma': init_sigma,
        'initial_noise': tensor(noise),
        'latents_after_step': [tensor(t) for t in traj],
        'decoded_sample': tensor(decoded),
        'image_rgb_uint8_base64': base64.b64encode(np.ascontiguousarray(img[0]).tobytes()).decode('ascii'),
        'tolerance': 'latents: abs 1e-3 per element after 10 steps (ORT vs torch float32); pixels: +-1',
    })

    write('randn.json', {
        'generated_by': 'tools/tiny_model/make_fixtures.py', 'torch_version': torch.__version__,
        'description': 'torch.randn(shape, generator=torch.Generator().manual_seed(seed)), float32, CPU',
        'cases': [{'seed': str(seed), 'shape': shape,
                   'values': tensor(torch.randn(shape, generator=torch.Generator().manual_seed(seed)))}
                  for seed, shape in RANDN_CASES],
    })
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f'fixtures written to {OUT}: {total / 1e6:.2f} MB')


if __name__ == '__main__':
    main()
