// The denoising loop: UNet + classifier-free guidance + one scheduler step per timestep. Samplers never
// see the model; the loop never sees sampler internals (STYLE.md, after stable-diffusion.cpp's split).
import { addResiduals, controlActive, type ControlNet } from '../control/controlNet';
import { throwIfAborted } from '../errors';
import type { UNet, UNetResiduals } from '../model/unet';
import { floatTensor, type FloatTensor } from '../onnx/tensor';
import type { RNG } from '../rng';
import type { Scheduler } from '../schedulers';
import type { StageTimings } from '../render/StageTimings';
import type { InpaintConditioning } from './inpaintStage';
import { concatBatch, concatChannels, guide } from './tensorMath';

export interface DenoiseStep {
  /** 1-based step number within the steps actually run, and their count. */
  readonly step: number;
  readonly total: number;
  /** The model's current estimate of the clean latents [1, C, h, w]. */
  readonly predOriginal: Float32Array;
  /** The latents after this step (what the next step starts from). */
  readonly latents: Float32Array;
}

/** A hint image steering the loop through a ControlNet over a fraction of the steps. */
export interface DenoiseControl {
  readonly net: ControlNet;
  /** The hint [1, 3, H, W] in 0..1 at the output size. */
  readonly hint: FloatTensor;
  readonly scale: number;
  readonly start: number;
  readonly end: number;
}

export interface DenoiseInput {
  readonly unet: UNet;
  readonly scheduler: Scheduler;
  /** Continues the stream that drew the initial noise (ancestral samplers draw from it). */
  readonly rng: RNG;
  /** Noised starting latents [1, C, h, w]. */
  readonly latents: FloatTensor;
  readonly cond: FloatTensor;
  /** The negative prompt's embedding; absent when guidance ≤ 1 (the second branch is skipped). */
  readonly uncond?: FloatTensor;
  /** Further UNet inputs of the prompt and of the negative prompt (SDXL's text_embeds, time_ids). */
  readonly extra?: Readonly<Record<string, FloatTensor>>;
  readonly uncondExtra?: Readonly<Record<string, FloatTensor>>;
  readonly guidance: number;
  /**
   * The guidance-scale embedding of a guidance-distilled (LCM) UNet, constant over the steps; such a UNet
   * is given no `uncond`, so the loop runs it on the prompt alone (batch 1).
   */
  readonly timestepCond?: FloatTensor;
  /** guidance_rescale (0 = off): see rescaleGuided. */
  readonly guidanceRescale?: number;
  readonly controls?: readonly DenoiseControl[];
  /** An inpainting UNet's mask and masked-image latents, concatenated after the latents on every call. */
  readonly inpaint?: InpaintConditioning;
  /** First step index (0 for text-to-image; later for image-to-image). */
  readonly startIndex: number;
  readonly timings: StageTimings;
  readonly signal?: AbortSignal;
  /** Awaited between steps (a preview decode runs here, not concurrently with the next UNet call). */
  readonly onStep?: (step: DenoiseStep) => void | Promise<void>;
}

/** Runs the steps from `startIndex` to the end and returns the final latents. Stops within one step of an abort. */
export async function denoise(input: DenoiseInput): Promise<FloatTensor> {
  const { unet, scheduler, timings, signal } = input;
  const dims = input.latents.dims;
  const useGuidance = input.uncond !== undefined && input.guidance > 1;
  // Batch order [uncond, cond], as diffusers concatenates them.
  const hiddenStates = useGuidance && input.uncond ? concatBatch([input.uncond, input.cond]) : input.cond;
  const extra: Record<string, FloatTensor> = {};
  for (const [name, cond] of Object.entries(input.extra ?? {})) {
    const uncond = input.uncondExtra?.[name];
    extra[name] = useGuidance && uncond ? concatBatch([uncond, cond]) : cond;
  }
  const rescale = input.guidanceRescale ?? 0;
  const run = scheduler.begin(input.rng);
  let latents = input.latents.data;
  const total = scheduler.numInferenceSteps - input.startIndex;
  const batch = useGuidance ? 2 : 1;
  // Both CFG branches see the hint, as in diffusers (no guess mode).
  const controls = (input.controls ?? []).map((c) => ({ ...c, hint: batch === 1 ? c.hint : concatBatch([c.hint, c.hint]) }));
  for (let index = input.startIndex; index < scheduler.numInferenceSteps; index++) {
    throwIfAborted(signal);
    const modelInput = floatTensor(scheduler.scaleModelInput(latents, index), dims);
    // ControlNets read the latents alone; an inpainting UNet also the mask and masked image (diffusers' order).
    const latentSample = useGuidance ? concatBatch([modelInput, modelInput]) : modelInput;
    const unetInput = input.inpaint && !input.inpaint.blend ? concatChannels([modelInput, input.inpaint.mask, input.inpaint.maskedImageLatents]) : modelInput;
    const sample = input.inpaint && !input.inpaint.blend ? (useGuidance ? concatBatch([unetInput, unetInput]) : unetInput) : latentSample;
    const timestep = scheduler.timesteps[index];
    let residuals: UNetResiduals | undefined;
    for (const control of controls) {
      if (control.scale === 0 || !controlActive(index, scheduler.numInferenceSteps, control.start, control.end)) continue;
      const beforeControl = control.net.runTimeMs;
      const r = await timings.time('controlnet', () =>
        control.net.predict({ sample: latentSample, timestep, encoderHiddenStates: hiddenStates, hint: control.hint, scale: control.scale, extra }, signal),
      );
      timings.addOnnxRuntime(control.net.runTimeMs - beforeControl);
      residuals = residuals ? addResiduals(residuals, r) : r;
    }
    const before = unet.runTimeMs;
    const output = await timings.time('unet', () =>
      unet.predict({ sample, timestep, encoderHiddenStates: hiddenStates, residuals, extra, timestepCond: input.timestepCond }, signal),
    );
    timings.addOnnxRuntime(unet.runTimeMs - before);
    const stepOutput = await timings.time('scheduler', () => {
      const size = latents.length;
      let noisePred = output.data;
      if (useGuidance) {
        const cond = output.data.subarray(size, 2 * size);
        noisePred = guide(output.data.subarray(0, size), cond, input.guidance);
        if (rescale > 0) noisePred = rescaleGuided(noisePred, cond, rescale);
      }
      return run.step(noisePred, index, latents);
    });
    latents = stepOutput.prevSample;
    if (input.inpaint?.blend) latents = blendKept(latents, input.inpaint, scheduler, index);
    await input.onStep?.({ step: index - input.startIndex + 1, total, predOriginal: stepOutput.predOriginalSample, latents });
  }
  return floatTensor(latents, dims);
}

/**
 * A plain UNet's inpainting (diffusers' inpaint pipeline with 4 channels): after step `index`, the kept
 * region (mask 0) is the init image's latents noised to the next step (the image itself after the last),
 * the repainted region (mask 1) what the step gave.
 */
function blendKept(latents: Float32Array, inpaint: InpaintConditioning, scheduler: Scheduler, index: number): Float32Array {
  const { image, noise } = inpaint.blend!;
  const proper = index + 1 < scheduler.numInferenceSteps ? scheduler.addNoise(image, noise, index + 1) : image;
  const mask = inpaint.mask.data;
  const plane = mask.length;
  const out = new Float32Array(latents.length);
  for (let i = 0; i < out.length; i++) {
    const m = mask[i % plane];
    out[i] = (1 - m) * proper[i] + m * latents[i];
  }
  return out;
}

/** Unbiased standard deviation over every element (torch's `std`, correction 1), in float64. */
function standardDeviation(values: Float32Array): number {
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length;
  let sum = 0;
  for (const v of values) sum += (v - mean) * (v - mean);
  return Math.sqrt(sum / Math.max(1, values.length - 1));
}

/**
 * guidance_rescale (Lin et al. 2023, §3.4, as diffusers' rescale_noise_cfg): scales the guided prediction
 * to the standard deviation of the prompt-only prediction, then mixes `factor` of that with `1 − factor`
 * of the guided one. Counters over-exposure at high guidance. One image per batch here, so the deviation
 * is over all its elements.
 */
export function rescaleGuided(guided: Float32Array, cond: Float32Array, factor: number): Float32Array {
  const ratio = standardDeviation(cond) / standardDeviation(guided);
  const out = new Float32Array(guided.length);
  for (let i = 0; i < guided.length; i++) out[i] = factor * (guided[i] * ratio) + (1 - factor) * guided[i];
  return out;
}
