// The stages between the prompts and the denoising loop: the starting latents (seeded noise for
// text-to-image; the encoded init image noised to the strength's timestep for image-to-image) and the
// hint images with the ControlNets that read them.
import { ControlNet } from '../control/controlNet';
import { loadHint } from '../control/hint';
import { loadImageTensor } from '../image/loadImage';
import type { ModelFamily } from '../model/families';
import { VAEEncoder } from '../model/vaeEncoder';
import type { OnnxSession } from '../onnx/onnxSession';
import { floatTensor, type FloatTensor } from '../onnx/tensor';
import type { PreparedHint } from '../render/RenderBackend';
import type { RenderJob } from '../render/renderJob';
import type { TorchCPUGenerator } from '../rng';
import { img2imgStartIndex, type Scheduler } from '../schedulers';
import type { DenoiseControl } from './denoise';
import type { StageTimings } from '../render/StageTimings';
import { isInpaintingModel } from './inpaintStage';
import { scaled } from './tensorMath';

type Acquire = <T>(component: string, Type: new (session: OnnxSession) => T) => Promise<T>;

export interface LatentInput {
  readonly job: RenderJob;
  readonly family: ModelFamily;
  readonly scheduler: Scheduler;
  readonly rng: TorchCPUGenerator;
  readonly latentDims: number[];
  readonly acquire: Acquire;
  readonly timings: StageTimings;
  readonly signal?: AbortSignal;
}

/** The latents the loop starts from, the step it starts at, and the encoded init image with its noise. */
export interface StartLatents {
  readonly latents: FloatTensor;
  readonly startIndex: number;
  /** The init image's latents (scaled) and the noise drawn for them: what a masked render blends back. */
  readonly image?: { readonly latents: Float32Array; readonly noise: Float32Array };
}

/**
 * The starting latents. With a mask (inpainting), diffusers' inpaint pipeline: at strength 1 pure noise
 * (an inpainting UNet then never encodes the image; a plain one still does, for blending), below 1 the
 * encoded image noised to the strength's timestep, as image-to-image.
 */
export async function prepareLatents(input: LatentInput): Promise<StartLatents> {
  const { job, scheduler, rng, latentDims, timings, signal } = input;
  const { recipe, model } = job;
  const noiseOnly = () => floatTensor(scaled(rng.randn(latentDims), scheduler.initNoiseSigma), latentDims);
  if (!recipe.init) return { latents: noiseOnly(), startIndex: 0 };
  const inpaintModel = isInpaintingModel(model);
  const pureNoise = (inpaintModel || recipe.init.mask !== undefined) && recipe.init.strength >= 1;
  if (pureNoise && inpaintModel) return { latents: noiseOnly(), startIndex: 0 };
  const vaeEncoder = await input.acquire('vae_encoder', VAEEncoder);
  const image = await loadImageTensor(recipe.init.path, { width: recipe.width, height: recipe.height });
  const before = vaeEncoder.session.runTimeMs;
  // diffusers' img2img samples the posterior with the generator first, then draws the noise.
  const encoded = await timings.time('vaeEncoder', () => vaeEncoder.encode(image, { mode: 'sample', randn: (count) => rng.randn([count]), signal }));
  timings.addOnnxRuntime(vaeEncoder.session.runTimeMs - before);
  const initLatents = scaled(encoded.data, input.family.latentScale(model));
  const startIndex = img2imgStartIndex(recipe.steps, recipe.init.strength);
  if (startIndex >= recipe.steps) return { latents: floatTensor(initLatents, latentDims), startIndex };
  const noise = rng.randn(latentDims);
  const latents = pureNoise ? scaled(noise, scheduler.initNoiseSigma) : scheduler.addNoise(initLatents, noise, startIndex);
  return { latents: floatTensor(latents, latentDims), startIndex, image: { latents: initLatents, noise } };
}

/** Each `control:` entry's preprocessed hint and the ControlNet that reads it. */
export async function prepareHints(job: RenderJob, acquire: Acquire, timings: StageTimings, signal?: AbortSignal): Promise<{ hints: PreparedHint[]; controls: DenoiseControl[] }> {
  const { recipe } = job;
  const hints: PreparedHint[] = [];
  const controls: DenoiseControl[] = [];
  for (const [i, c] of recipe.control.entries()) {
    const net = await acquire(job.controlNets?.[i] ?? job.metadata.control[i].net.folder, ControlNet);
    const hint = await timings.time('hint', () => loadHint(c.path, c.type, recipe.width, recipe.height, signal));
    hints.push({ type: c.type, image: { data: hint.rgb, width: hint.width, height: hint.height } });
    controls.push({ net, hint: floatTensor(hint.tensor, [1, 3, hint.height, hint.width]), scale: c.strength, start: c.start, end: c.end });
  }
  return { hints, controls };
}
