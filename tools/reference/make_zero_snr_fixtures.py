#!/usr/bin/env python3
"""Writes test/fixtures/reference/schedulers/zero_snr.json: zero-terminal-SNR schedules and v-prediction
sampling loops, computed the way diffusers computes them, for src/engine/schedulers.

diffusers is not installed here, so this script restates the formulas of diffusers' schedulers (read at
huggingface/diffusers 58eb52c080) in torch float32 and numpy, operation by operation:

- rescale_zero_terminal_snr (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps are
  Flawed", Algorithm 1), applied to the betas by every scheduler class when rescale_betas_zero_snr is set;
- EulerDiscreteScheduler, EulerAncestralDiscreteScheduler and DPMSolverMultistepScheduler then set the last
  alphas_cumprod to 2**-24 ("close to 0 without being 0 so first sigma is not inf"); DDIMScheduler and
  LCMScheduler keep it at exactly 0 (their steps never divide by sigma);
- set_timesteps for each timestep_spacing (linspace, leading + steps_offset, trailing), Karras sigmas
  mapped back to timesteps with _sigma_to_t, final sigma 0, init_noise_sigma;
- one full sampling loop per case as the pipelines run it (latents * init_noise_sigma, scale_model_input,
  model, step), with the dummy model of diffusers' scheduler tests (sample * t / (t + 1)) and ancestral
  noise from torch.Generator().manual_seed(SEED).

Run with Debian's torch (tools only, never at run time):
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.reference.make_zero_snr_fixtures
Tensors are stored as base64 of little-endian float32. torch.linspace's vectorised CPU kernel rounds some
betas differently from its scalar formula (by one ulp, depending on the build's SIMD width), so the
fixture also stores the betas torch made (inputBetas, sd2Betas): a test can feed them as trained_betas
and compare the zero-SNR arithmetic itself bit for bit.
"""
import base64
import json
import math
import os

import numpy as np
import torch

torch.set_num_threads(1)
OUT = os.path.join('test', 'fixtures', 'reference', 'schedulers', 'zero_snr.json')
SHAPE = [1, 4, 8, 8]
SAMPLE_SEED = 7
NOISE_SEED = 0
# SD 2.x's training schedule, as in stabilityai/stable-diffusion-2-1's scheduler config.
SD2 = {'beta_start': 0.00085, 'beta_end': 0.012, 'beta_schedule': 'scaled_linear', 'num_train_timesteps': 1000}


def b64(t) -> str:
    a = t.contiguous().to(torch.float32).numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float32)
    return base64.b64encode(a.astype('<f4').tobytes()).decode('ascii')


def betas_for(cfg):
    n = cfg['num_train_timesteps']
    if cfg['beta_schedule'] == 'linear':
        return torch.linspace(cfg['beta_start'], cfg['beta_end'], n, dtype=torch.float32)
    if cfg['beta_schedule'] == 'scaled_linear':
        return torch.linspace(cfg['beta_start'] ** 0.5, cfg['beta_end'] ** 0.5, n, dtype=torch.float32) ** 2

    def alpha_bar(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    return torch.tensor([min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), 0.999) for i in range(n)], dtype=torch.float32)


def rescale_zero_terminal_snr(betas):
    """Algorithm 1 of Lin et al., in diffusers' torch operations."""
    alphas = 1.0 - betas
    alphas_cumprod = torch.cumprod(alphas, dim=0)
    alphas_bar_sqrt = alphas_cumprod.sqrt()
    first = alphas_bar_sqrt[0].clone()
    last = alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt -= last
    alphas_bar_sqrt *= first / (first - last)
    alphas_bar = alphas_bar_sqrt ** 2
    alphas = alphas_bar[1:] / alphas_bar[:-1]
    alphas = torch.cat([alphas_bar[0:1], alphas])
    return 1 - alphas


def training(cfg, floor_last):
    betas = betas_for(cfg)
    if cfg.get('rescale_betas_zero_snr'):
        betas = rescale_zero_terminal_snr(betas)
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    if cfg.get('rescale_betas_zero_snr') and floor_last:
        alphas_cumprod[-1] = 2 ** -24
    return betas, alphas_cumprod


def sigma_to_t(sigma, log_sigmas):
    log_sigma = np.log(np.maximum(sigma, 1e-10))
    dists = log_sigma - log_sigmas[:, np.newaxis]
    low_idx = np.cumsum((dists >= 0), axis=0).argmax(axis=0).clip(max=log_sigmas.shape[0] - 2)
    high_idx = low_idx + 1
    low = log_sigmas[low_idx]
    high = log_sigmas[high_idx]
    w = np.clip((low - log_sigma) / (low - high), 0, 1)
    return ((1 - w) * low_idx + w * high_idx).reshape(np.shape(sigma))


def karras(in_sigmas, n):
    sigma_min = in_sigmas[-1].item()
    sigma_max = in_sigmas[0].item()
    rho = 7.0
    ramp = np.linspace(0, 1, n)
    min_inv_rho = sigma_min ** (1 / rho)
    max_inv_rho = sigma_max ** (1 / rho)
    return (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho


def spaced_timesteps(spacing, n_train, steps, offset, dtype):
    if spacing == 'linspace':
        return np.linspace(0, n_train - 1, steps, dtype=np.float32)[::-1].copy().astype(dtype) if dtype == np.float32 \
            else np.linspace(0, n_train - 1, steps).round()[::-1].copy().astype(dtype)
    if spacing == 'leading':
        ratio = n_train // steps
        return (np.arange(0, steps) * ratio).round()[::-1].copy().astype(dtype) + offset
    ratio = n_train / steps
    return np.round(np.arange(n_train, 0, -ratio)).astype(dtype) - 1


class Euler:
    """EulerDiscreteScheduler (ancestral=False) and EulerAncestralDiscreteScheduler (ancestral=True)."""

    def __init__(self, cfg, steps, ancestral, use_karras=False):
        self.cfg = cfg
        self.ancestral = ancestral
        _, self.alphas_cumprod = training(cfg, floor_last=True)
        timesteps = spaced_timesteps(cfg['timestep_spacing'], cfg['num_train_timesteps'], steps, cfg['steps_offset'], np.float32)
        sigmas = np.array(((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5)
        log_sigmas = np.log(sigmas)
        sigmas = np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)
        if use_karras:
            sigmas = karras(sigmas, steps)
            timesteps = np.array([sigma_to_t(s, log_sigmas) for s in sigmas])
        self.sigmas = torch.from_numpy(np.concatenate([sigmas, [0.0]]).astype(np.float32))
        self.timesteps = torch.from_numpy(timesteps.astype(np.float32))
        max_sigma = self.sigmas.max()
        self.init_noise_sigma = max_sigma if cfg['timestep_spacing'] in ('linspace', 'trailing') else (max_sigma ** 2 + 1) ** 0.5

    def scale(self, sample, i):
        return sample / ((self.sigmas[i] ** 2 + 1) ** 0.5)

    def step(self, out, i, sample, gen):
        sigma = self.sigmas[i]
        if self.cfg['prediction_type'] == 'epsilon':
            x0 = sample - sigma * out
        else:
            x0 = out * (-sigma / (sigma ** 2 + 1) ** 0.5) + (sample / (sigma ** 2 + 1))
        derivative = (sample - x0) / sigma
        if not self.ancestral:
            return sample + derivative * (self.sigmas[i + 1] - sigma)
        sigma_to = self.sigmas[i + 1]
        sigma_up = (sigma_to ** 2 * (sigma ** 2 - sigma_to ** 2) / sigma ** 2) ** 0.5
        sigma_down = (sigma_to ** 2 - sigma_up ** 2) ** 0.5
        prev = sample + derivative * (sigma_down - sigma)
        return prev + torch.randn(out.shape, generator=gen) * sigma_up


class DDIM:
    def __init__(self, cfg, steps):
        self.cfg = cfg
        _, self.alphas_cumprod = training(cfg, floor_last=False)
        self.final = torch.tensor(1.0) if cfg['set_alpha_to_one'] else self.alphas_cumprod[0]
        n = cfg['num_train_timesteps']
        self.ratio = n // steps
        self.timesteps = torch.from_numpy(spaced_timesteps(cfg['timestep_spacing'], n, steps, cfg['steps_offset'], np.int64))
        self.sigmas = None
        self.init_noise_sigma = 1.0

    def scale(self, sample, i):
        return sample

    def step(self, out, i, sample, gen):
        t = self.timesteps[i]
        prev_t = t - self.ratio
        a = self.alphas_cumprod[t]
        a_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else self.final
        b = 1 - a
        x0 = a ** 0.5 * sample - b ** 0.5 * out
        eps = a ** 0.5 * out + b ** 0.5 * sample
        direction = (1 - a_prev) ** 0.5 * eps
        return a_prev ** 0.5 * x0 + direction


class DPMSolver2M:
    def __init__(self, cfg, steps, use_karras=False):
        self.cfg = cfg
        _, self.alphas_cumprod = training(cfg, floor_last=True)
        n = cfg['num_train_timesteps']
        timesteps = {
            'linspace': lambda: np.linspace(0, n - 1, steps + 1).round()[::-1][:-1].copy().astype(np.int64),
            'leading': lambda: (np.arange(0, steps + 1) * (n // (steps + 1))).round()[::-1][:-1].copy().astype(np.int64) + cfg['steps_offset'],
            'trailing': lambda: np.arange(n, 0, -n / steps).round().copy().astype(np.int64) - 1,
        }[cfg['timestep_spacing']]()
        sigmas = np.array(((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5)
        log_sigmas = np.log(sigmas)
        if use_karras:
            sigmas = karras(np.flip(sigmas).copy(), steps)
            timesteps = np.array([sigma_to_t(s, log_sigmas) for s in sigmas]).round()
        else:
            sigmas = np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)
        self.sigmas = torch.from_numpy(np.concatenate([sigmas, [0.0]]).astype(np.float32))
        self.timesteps = torch.from_numpy(timesteps).to(torch.int64)
        self.init_noise_sigma = 1.0
        self.previous = None

    def scale(self, sample, i):
        return sample

    @staticmethod
    def alpha_sigma(sigma):
        alpha = 1 / ((sigma ** 2 + 1) ** 0.5)
        return alpha, sigma * alpha

    def step(self, out, i, sample, gen):
        alpha_s0, sigma_s0 = self.alpha_sigma(self.sigmas[i])
        alpha_t, sigma_t = self.alpha_sigma(self.sigmas[i + 1])
        x0 = alpha_s0 * sample - sigma_s0 * out
        lambda_t = torch.log(alpha_t) - torch.log(sigma_t)
        lambda_s0 = torch.log(alpha_s0) - torch.log(sigma_s0)
        h = lambda_t - lambda_s0
        # lower_order_final: the last step (final sigma 0, fewer than 15 steps) and the first are first order.
        last = i == len(self.timesteps) - 1
        if self.previous is None or last:
            prev = (sigma_t / sigma_s0) * sample - (alpha_t * (torch.exp(-h) - 1.0)) * x0
        else:
            alpha_s1, sigma_s1 = self.alpha_sigma(self.sigmas[i - 1])
            lambda_s1 = torch.log(alpha_s1) - torch.log(sigma_s1)
            r0 = (lambda_s0 - lambda_s1) / h
            d1 = (1.0 / r0) * (x0 - self.previous)
            prev = (sigma_t / sigma_s0) * sample - (alpha_t * (torch.exp(-h) - 1.0)) * x0 - 0.5 * (alpha_t * (torch.exp(-h) - 1.0)) * d1
        self.previous = x0
        return prev


class LCM:
    def __init__(self, cfg, steps):
        self.cfg = cfg
        _, self.alphas_cumprod = training(cfg, floor_last=False)
        n = cfg['num_train_timesteps']
        original = cfg['original_inference_steps']
        k = n // original
        origin = (np.asarray(list(range(1, original + 1))) * k - 1)[::-1].copy()
        indices = np.floor(np.linspace(0, len(origin), num=steps, endpoint=False)).astype(np.int64)
        self.timesteps = torch.from_numpy(origin[indices]).to(torch.long)
        self.sigmas = None
        self.init_noise_sigma = 1.0

    def scale(self, sample, i):
        return sample

    def step(self, out, i, sample, gen):
        t = self.timesteps[i]
        last = i == len(self.timesteps) - 1
        prev_t = t if last else self.timesteps[i + 1]
        a = self.alphas_cumprod[t]
        a_prev = self.alphas_cumprod[prev_t]
        scaled = t * self.cfg['timestep_scaling']
        c_skip = 0.5 ** 2 / (scaled ** 2 + 0.5 ** 2)
        c_out = scaled / (scaled ** 2 + 0.5 ** 2) ** 0.5
        x0 = a.sqrt() * sample - (1 - a).sqrt() * out
        denoised = c_out * x0 + c_skip * sample
        if last:
            return denoised
        noise = torch.randn(out.shape, generator=gen)
        return a_prev.sqrt() * denoised + (1 - a_prev).sqrt() * noise


def run_loop(scheduler, start):
    gen = torch.Generator().manual_seed(NOISE_SEED)
    latents = start * scheduler.init_noise_sigma
    for i, t in enumerate(scheduler.timesteps):
        model_input = scheduler.scale(latents, i)
        out = model_input * t / (t + 1)
        latents = scheduler.step(out, i, latents, gen)
    return latents


def case(name, sampler, cfg, steps, scheduler, schedule='normal'):
    start = torch.randn(SHAPE, generator=torch.Generator().manual_seed(SAMPLE_SEED))
    final = run_loop(scheduler, start)
    entry = {
        'name': name,
        'sampler': sampler,
        'schedule': schedule,
        'config': {k: v for k, v in cfg.items()},
        'steps': steps,
        'timesteps': [float(t) for t in scheduler.timesteps.tolist()],
        'initNoiseSigma': float(scheduler.init_noise_sigma),
        'final': b64(final),
        'finite': bool(torch.isfinite(final).all()),
    }
    if scheduler.sigmas is not None:
        entry['sigmas'] = b64(scheduler.sigmas)
    return entry


def main() -> None:
    rescaled = []
    for cfg in [
        {'beta_start': 0.0001, 'beta_end': 0.02, 'beta_schedule': 'linear', 'num_train_timesteps': 1000},
        SD2,
        {'beta_start': 0.0001, 'beta_end': 0.02, 'beta_schedule': 'squaredcos_cap_v2', 'num_train_timesteps': 1000},
    ]:
        betas, alphas_cumprod = training({**cfg, 'rescale_betas_zero_snr': True}, floor_last=False)
        rescaled.append({'config': cfg, 'inputBetas': b64(betas_for(cfg)), 'betas': b64(betas), 'alphasCumprod': b64(alphas_cumprod)})

    base = {**SD2, 'prediction_type': 'v_prediction', 'rescale_betas_zero_snr': True, 'steps_offset': 1}
    cases = []
    for spacing in ['linspace', 'leading', 'trailing']:
        cfg = {**base, 'timestep_spacing': spacing}
        cases.append(case(f'euler {spacing}', 'euler', cfg, 10, Euler(cfg, 10, ancestral=False)))
        cases.append(case(f'euler_a {spacing}', 'euler_a', cfg, 10, Euler(cfg, 10, ancestral=True)))
        cases.append(case(f'dpmpp_2m {spacing}', 'dpmpp_2m', cfg, 10, DPMSolver2M(cfg, 10)))
        ddim_cfg = {**cfg, 'set_alpha_to_one': False, 'clip_sample': False}
        cases.append(case(f'ddim {spacing}', 'ddim', ddim_cfg, 10, DDIM(ddim_cfg, 10)))
    trailing = {**base, 'timestep_spacing': 'trailing'}
    cases.append(case('euler trailing karras', 'euler', trailing, 8, Euler(trailing, 8, ancestral=False, use_karras=True), 'karras'))
    cases.append(case('dpmpp_2m trailing karras', 'dpmpp_2m', trailing, 8, DPMSolver2M(trailing, 8, use_karras=True), 'karras'))
    cases.append(case('euler trailing 1 step', 'euler', trailing, 1, Euler(trailing, 1, ancestral=False)))
    cases.append(case('euler_a trailing 2 steps', 'euler_a', trailing, 2, Euler(trailing, 2, ancestral=True)))
    eps = {**trailing, 'prediction_type': 'epsilon'}
    cases.append(case('euler trailing epsilon', 'euler', eps, 6, Euler(eps, 6, ancestral=False)))
    lcm_cfg = {**base, 'original_inference_steps': 50, 'timestep_scaling': 10.0}
    cases.append(case('lcm 4 steps', 'lcm', lcm_cfg, 4, LCM(lcm_cfg, 4)))
    cases.append(case('lcm 1 step', 'lcm', lcm_cfg, 1, LCM(lcm_cfg, 1)))

    start = torch.randn(SHAPE, generator=torch.Generator().manual_seed(SAMPLE_SEED))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump({'torch': torch.__version__, 'numpy': np.__version__, 'shape': SHAPE, 'sampleSeed': SAMPLE_SEED,
                   'noiseSeed': NOISE_SEED, 'start': b64(start), 'sd2Betas': b64(betas_for(SD2)), 'rescaled': rescaled, 'cases': cases}, f, indent=1)
        f.write('\n')
    print(f'wrote {OUT}: {len(rescaled)} rescaled schedules, {len(cases)} loops')


if __name__ == '__main__':
    main()
