// The extra UNet input of an inpainting model (a UNet with 9 input channels: SD 1.x/2.x inpainting), as
// diffusers' StableDiffusionInpaintPipeline builds it: the mask, at latent size, and the latents of the
// masked image, concatenated after the (scaled) latents on every step.
// - the mask image (init.mask) is framed as the init image, made grey (ITU-R 601 luma, as PIL's "L"),
//   scaled to 0..1 and binarized at 0.5: white (1) is repainted, black (0) kept;
// - masked image = init image · (mask < 0.5) in [-1, 1] (the repainted region becomes 0, mid grey);
// - mask latents: the mask resized to latent size by nearest neighbour (torch's interpolate default:
//   source pixel floor(i · H / h));
// - masked-image latents: the VAE encoder's sample of the masked image (drawn from the seeded generator
//   after the starting noise, as diffusers draws them) times the scaling factor.
// With no mask (an inpainting model rendering text-to-image or a whole init image), the mask is all ones
// and the masked image all zeros, which is what A1111 feeds such a model. A plain UNet with a mask keeps
// the unmasked region by blending (InpaintConditioning.blend); the masked image is still encoded, so the
// generator's stream (and an ancestral sampler's draws after it) stays diffusers'.
import { InputError } from '../errors';
import { loadImageRGB } from '../image/loadImage';
import { rgbToImageTensor } from '../image/rgbImage';
import type { ModelFamily } from '../model/families';
import type { ModelConfig } from '../model/modelConfig';
import { VAEEncoder } from '../model/vaeEncoder';
import type { OnnxSession } from '../onnx/onnxSession';
import { floatTensor, type FloatTensor } from '../onnx/tensor';
import type { StageTimings } from '../render/StageTimings';
import type { RenderJob } from '../render/renderJob';
import type { TorchCPUGenerator } from '../rng';
import { scaled } from './tensorMath';

type Acquire = <T>(component: string, Type: new (session: OnnxSession) => T) => Promise<T>;

/**
 * The mask at latent size [1, 1, h, w] and the masked image's latents [1, C, h, w]. `blend`: the UNet is a
 * plain one (C input channels), so the loop keeps the unmasked region by blending the init image's
 * latents, noised to each next step, back after every step (diffusers' inpaint pipeline with a 4-channel
 * UNet); otherwise both go into the UNet.
 */
export interface InpaintConditioning {
  readonly mask: FloatTensor;
  readonly maskedImageLatents: FloatTensor;
  readonly blend?: { readonly image: Float32Array; readonly noise: Float32Array };
}

/** UNet input channels of an inpainting model: latents, mask, masked-image latents. */
export function inpaintChannels(latentChannels: number): number {
  return 2 * latentChannels + 1;
}

/** True when the model's UNet takes a mask and masked-image latents besides the latents. */
export function isInpaintingModel(model: ModelConfig): boolean {
  return model.unet.inChannels === inpaintChannels(model.vae.latentChannels);
}

/** The mask at pixel size, [height · width] of 0 and 1 (1: repaint), from an image file. */
export async function loadMask(path: string, width: number, height: number): Promise<Float32Array> {
  const rgb = await loadImageRGB(path, { width, height });
  const mask = new Float32Array(width * height);
  for (let i = 0; i < mask.length; i++) {
    // PIL's RGB -> L: (R·19595 + G·38470 + B·7471 + 0x8000) >> 16, then /255 and binarized at 0.5.
    const luma = (rgb.data[3 * i] * 19595 + rgb.data[3 * i + 1] * 38470 + rgb.data[3 * i + 2] * 7471 + 0x8000) >> 16;
    mask[i] = luma / 255 >= 0.5 ? 1 : 0;
  }
  return mask;
}

/** Nearest-neighbour resize of a [H, W] plane to [h, w], as torch's interpolate(mode='nearest'). */
export function nearestResize(plane: Float32Array, H: number, W: number, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(H - 1, Math.floor((y * H) / h));
    for (let x = 0; x < w; x++) out[y * w + x] = plane[sy * W + Math.min(W - 1, Math.floor((x * W) / w))];
  }
  return out;
}

export interface InpaintInput {
  readonly job: RenderJob;
  /** prepareLatents' encoded init image and its noise (for a plain UNet's blending). */
  readonly image?: { readonly latents: Float32Array; readonly noise: Float32Array };
  readonly family: ModelFamily;
  readonly rng: TorchCPUGenerator;
  readonly latentDims: number[];
  readonly acquire: Acquire;
  readonly timings: StageTimings;
  readonly signal?: AbortSignal;
}

/**
 * The inpainting conditioning of a render on an inpainting model, or of a masked render on a plain one
 * (undefined otherwise). Call after the starting latents are drawn: it continues the generator's stream
 * as diffusers does.
 */
export async function prepareInpaint(input: InpaintInput): Promise<InpaintConditioning | undefined> {
  const { job, rng, latentDims, timings, signal } = input;
  const { recipe, model } = job;
  const inpaintModel = isInpaintingModel(model);
  if (!inpaintModel && !recipe.init?.mask) return undefined;
  if (!inpaintModel && model.unet.inChannels !== model.vae.latentChannels) {
    throw new InputError(`init.mask: this model's UNet takes ${model.unet.inChannels} input channels, neither the latents' ${model.vae.latentChannels} nor an inpainting model's ${inpaintChannels(model.vae.latentChannels)}`, recipe.init?.mask?.path);
  }
  if (!inpaintModel && !input.image) throw new Error('internal: a masked render on a plain UNet needs the encoded init image');
  const { width, height } = recipe;
  const plane = width * height;
  const maskFile = recipe.init?.mask;
  const pixels = maskFile ? await timings.time('hint', () => loadMask(maskFile.path, width, height)) : new Float32Array(plane).fill(1);
  const image = recipe.init ? (await loadImageRGB(recipe.init.path, { width, height })) : undefined;
  const masked = new Float32Array(3 * plane);
  if (image) {
    const tensor = rgbToImageTensor(image).data;
    for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) masked[c * plane + i] = pixels[i] < 0.5 ? tensor[c * plane + i] : 0;
  }
  const vaeEncoder = await input.acquire('vae_encoder', VAEEncoder);
  const before = vaeEncoder.session.runTimeMs;
  const encoded = await timings.time('vaeEncoder', () =>
    vaeEncoder.encode(floatTensor(masked, [1, 3, height, width]), { mode: 'sample', randn: (count) => rng.randn([count]), signal }),
  );
  timings.addOnnxRuntime(vaeEncoder.session.runTimeMs - before);
  const [, channels, h, w] = latentDims;
  return {
    mask: floatTensor(nearestResize(pixels, height, width, h, w), [1, 1, h, w]),
    maskedImageLatents: floatTensor(scaled(encoded.data, input.family.latentScale(model)), [1, channels, h, w]),
    ...(inpaintModel ? {} : { blend: { image: input.image!.latents, noise: input.image!.noise } }),
  };
}
