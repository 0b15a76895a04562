// Image-to-image: how many of the scheduled steps a given strength keeps, as diffusers'
// StableDiffusionImg2ImgPipeline.get_timesteps does. The run starts at the returned step index: the
// encoded image is noised with scheduler.addNoise(latents, noise, start) and steps start..n-1 follow.
// (diffusers' LCM img2img pipeline instead shrinks LCM's teacher schedule by the strength; we use this
// rule for every sampler.) To match diffusers' noise bit for bit, draw the VAE posterior sample from the
// render's RNG before the img2img noise, as its pipelines do.

import { InputError } from '../errors';

/** The first step index to run for `strength` in (0, 1] over `numInferenceSteps` steps. */
export function img2imgStartIndex(numInferenceSteps: number, strength: number): number {
  if (!(strength > 0 && strength <= 1)) {
    throw new InputError(`strength ${strength} is outside (0, 1]; 1 ignores the init image, values near 0 keep it`);
  }
  // int() truncation of the product, like Python's, including its float rounding (10 * 0.7 -> 7).
  const kept = Math.min(Math.trunc(numInferenceSteps * strength), numInferenceSteps);
  if (kept < 1) {
    throw new InputError(`strength ${strength} with ${numInferenceSteps} steps leaves no step to run; raise the strength or the steps to at least ${Math.ceil(1 / strength)}`);
  }
  return numInferenceSteps - kept;
}
