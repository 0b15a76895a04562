// The guidance-scale embedding of guidance-distilled UNets (Latent Consistency Models, Luo et al. 2023):
// such a UNet takes the guidance scale as an input (`timestep_cond`) instead of running classifier-free
// guidance, so it is called once per step with the prompt alone. Follows diffusers'
// LatentConsistencyModelPipeline.get_guidance_scale_embedding (itself VDM's sinusoidal timestep
// embedding): w = guidance − 1 (the pipelines' Imagen-style scale, where 1 means no guidance), w × 1000,
// then [sin(w·f), cos(w·f)] over f_i = exp(−i · ln 10000 / (dim/2 − 1)), a zero column for an odd dim.
// Each operation is rounded to float32 as torch computes it.
import { ModelError } from '../errors';
import type { ModelConfig } from '../model/modelConfig';
import type { UNet } from '../model/unet';
import { floatTensor, type FloatTensor } from '../onnx/tensor';

const fr = Math.fround;

/** The embedding of one guidance scale, `dim` values (the UNet's time_cond_proj_dim). */
export function guidanceScaleEmbedding(guidanceScale: number, dim: number): Float32Array {
  if (!Number.isInteger(dim) || dim < 4) throw new RangeError(`a guidance embedding needs an integer width of at least 4; got ${dim}`);
  const w = fr(fr(guidanceScale - 1) * 1000);
  const half = Math.floor(dim / 2);
  const step = fr(fr(Math.log(10000)) / (half - 1));
  const out = new Float32Array(dim);
  for (let i = 0; i < half; i++) {
    const argument = fr(w * fr(Math.exp(fr(i * -step))));
    out[i] = Math.sin(argument);
    out[half + i] = Math.cos(argument);
  }
  return out;
}

/** unet/config.json's time_cond_proj_dim, when the model states one. */
function configuredWidth(model: ModelConfig): number | undefined {
  const width = model.unet.raw.time_cond_proj_dim;
  return typeof width === 'number' && Number.isInteger(width) && width > 0 ? width : undefined;
}

/**
 * Whether unet/config.json declares a guidance embedding (time_cond_proj_dim), as diffusers decides
 * (StableDiffusionPipeline runs classifier-free guidance only when it is absent). Known before the UNet
 * loads; unetGuidanceEmbedding then asks the graph itself.
 */
export function declaresGuidanceEmbedding(model: ModelConfig): boolean {
  return configuredWidth(model) !== undefined;
}

/**
 * The `timestep_cond` input [1, dim] for `guidance` when the UNet's graph takes one, else undefined (the
 * UNet then runs classifier-free guidance as usual). Constant over the steps of a render.
 */
export function unetGuidanceEmbedding(unet: UNet, model: ModelConfig, guidance: number): FloatTensor | undefined {
  const dim = unet.timestepCondWidth(configuredWidth(model));
  if (dim === undefined) return undefined;
  if (dim < 4) throw new ModelError(`the UNet's timestep_cond is ${dim} wide; a guidance embedding needs at least 4`, unet.session.modelPath);
  return floatTensor(guidanceScaleEmbedding(guidance, dim), [1, dim]);
}
