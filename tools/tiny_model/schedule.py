"""SD's noise schedule and the Euler sampler with diffusers' EulerDiscreteScheduler semantics.

Follows diffusers' DDPMScheduler / EulerDiscreteScheduler documentation and behaviour (facts, not code):
scaled_linear betas, leading timestep spacing with steps_offset, sigmas interpolated linearly over the
timestep index, a final sigma of 0, init_noise_sigma = sqrt(sigma_max^2 + 1) for leading spacing.
"""
from __future__ import annotations

import numpy as np

NUM_TRAIN_TIMESTEPS = 1000
BETA_START = 0.00085
BETA_END = 0.012
STEPS_OFFSET = 1


def alphas_cumprod() -> np.ndarray:
    betas = np.linspace(BETA_START ** 0.5, BETA_END ** 0.5, NUM_TRAIN_TIMESTEPS, dtype=np.float32) ** 2
    return np.cumprod(1.0 - betas, dtype=np.float32)


def euler_schedule(num_steps: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(timesteps [N] float32, sigmas [N+1] float32 ending in 0, init_noise_sigma)."""
    acp = alphas_cumprod()
    all_sigmas = (((1 - acp) / acp) ** 0.5).astype(np.float32)
    step_ratio = NUM_TRAIN_TIMESTEPS // num_steps
    timesteps = (np.arange(0, num_steps) * step_ratio).round()[::-1].astype(np.float32) + STEPS_OFFSET
    sigmas = np.interp(timesteps, np.arange(NUM_TRAIN_TIMESTEPS), all_sigmas).astype(np.float32)
    sigmas = np.concatenate([sigmas, np.zeros(1, dtype=np.float32)])
    init_noise_sigma = float((sigmas.max() ** 2 + 1) ** 0.5)
    return timesteps, sigmas, init_noise_sigma
