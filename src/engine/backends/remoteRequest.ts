// What a remote server is asked to render, independent of its API: the recipe's values translated into
// the vocabulary render servers share (sampler and scheduler names as ComfyUI spells them, server-side
// model file names, hint images as PNG bytes). The ComfyUI graph and the A1111 payload are both built
// from this, so the two backends cannot disagree about what a scene means.
import { InputError } from '../errors';
import { encodePixelsToPng } from '../output/encodePng';
import type { RenderJob } from '../render/renderJob';
import { loadImageRGB } from '../image/loadImage';
import { preprocessHint, type HintType } from '../control/hint';
import { familyDefaults, validateFamilyKeys, type RemoteFamily } from './remoteFamilies';

export interface RemoteLora {
  /** The LoRA's file name as the server lists it (ComfyUI `models/loras`, A1111 `models/Lora`). */
  readonly name: string;
  readonly weight: number;
}

export interface RemoteControl {
  readonly type: string;
  /** The hint as PNG bytes, uploaded before the prompt. */
  readonly png: Buffer;
  /** Upload file name (content-addressed, so a re-upload of the same hint is recognised). */
  readonly uploadName: string;
  /** The ControlNet's file name on the server. */
  readonly controlNet: string;
  readonly strength: number;
  readonly start: number;
  readonly end: number;
}

export interface RemoteRequest {
  readonly family: RemoteFamily;
  /** Checkpoint (sd family) or diffusion-model file (flow families) on the server. */
  readonly model: string;
  /** Text-encoder files for the families that load them separately (FLUX: clip_l then t5xxl). */
  readonly textEncoders: readonly string[];
  /** VAE file for the families that load it separately. */
  readonly vae?: string;
  readonly prompt: string;
  readonly negative: string;
  /** Decimal digits, 0 … 2^64 − 1 (ComfyUI's seed range); kept exact, never through a float. */
  readonly seed: string;
  readonly width: number;
  readonly height: number;
  readonly steps: number;
  /** Classifier-free guidance scale (1 for distilled flow models). */
  readonly cfg: number;
  /** ComfyUI's sampler and scheduler names (comfy/samplers.py KSAMPLER_NAMES / SCHEDULER_NAMES). */
  readonly sampler: string;
  readonly scheduler: string;
  readonly loras: readonly RemoteLora[];
  readonly control: readonly RemoteControl[];
  readonly init: { readonly png: Buffer; readonly uploadName: string; readonly strength: number } | null;
  /** Timestep shift of the flow families (ModelSamplingAuraFlow / ModelSamplingSD3). */
  readonly shift?: number;
  /** Distilled guidance fed to the model (FLUX dev's guidance embedding). */
  readonly distilledGuidance?: number;
}

/** Our sampler names → ComfyUI's (comfy/samplers.py KSAMPLER_NAMES). */
export const COMFY_SAMPLERS: Readonly<Record<string, string>> = {
  euler: 'euler',
  euler_a: 'euler_ancestral',
  ddim: 'ddim',
  dpmpp_2m: 'dpmpp_2m',
  lcm: 'lcm',
};

/** How a configured server names the files a scene refers to by our names. */
export interface ServerModelMap {
  /** Our model name → the server's checkpoint / diffusion-model file. Unlisted: the name itself. */
  readonly models?: Readonly<Record<string, string>>;
  /** Hint type → ControlNet file on the server. */
  readonly controlnets?: Readonly<Record<string, string>>;
  /** Flow families: text encoders and VAE on the server (defaults: the published example workflows' files). */
  readonly textEncoders?: readonly string[];
  readonly vae?: string;
  /** Which family the server's model is (default `sd`: a single-file checkpoint). */
  readonly family?: RemoteFamily;
}

function baseName(ref: string): string {
  return ref.split('/').pop() ?? ref;
}

/**
 * The request for a job: its recipe in the servers' vocabulary, hints and init image as PNG bytes.
 * `server` maps our names onto the server's files; unmapped names pass through unchanged.
 */
export async function remoteRequestFromJob(job: RenderJob, server: ServerModelMap = {}): Promise<RemoteRequest> {
  const { recipe } = job;
  const family = server.family ?? 'sd';
  const defaults = familyDefaults(family);
  const options = recipe.options as Readonly<Record<string, unknown>>;
  const shift = typeof options.shift === 'number' ? options.shift : undefined;
  const distilledGuidance = typeof options.distilled_guidance === 'number' ? options.distilled_guidance : undefined;
  validateFamilyKeys(family, { shift, distilledGuidance });
  const sampler = COMFY_SAMPLERS[recipe.sampler];
  if (!sampler) throw new InputError(`sampler '${recipe.sampler}' has no equivalent on render servers (known: ${Object.keys(COMFY_SAMPLERS).join(', ')})`);
  const control: RemoteControl[] = [];
  for (const c of recipe.control) {
    // Servers apply a ControlNet to the image as given: send what our preprocessor makes of it.
    const png = await hintPng(c.path, job.recipe.width, job.recipe.height, c.type);
    control.push({
      type: c.type,
      png,
      uploadName: `imgprompt-${job.hash.slice(0, 12)}-${baseName(c.ref).replace(/\.[^.]*$/, '')}.png`,
      controlNet: server.controlnets?.[c.type] ?? `control_${c.type}`,
      strength: c.strength,
      start: c.start,
      end: c.end,
    });
  }
  const init = recipe.init
    ? { png: await hintPng(recipe.init.path, recipe.width, recipe.height), uploadName: `imgprompt-${job.hash.slice(0, 12)}-init.png`, strength: recipe.init.strength }
    : null;
  return {
    family,
    model: server.models?.[recipe.model.ref] ?? recipe.model.ref,
    textEncoders: server.textEncoders ?? defaults.textEncoders,
    vae: server.vae ?? defaults.vae,
    prompt: recipe.prompt,
    negative: recipe.negative,
    seed: recipe.seed,
    width: recipe.width,
    height: recipe.height,
    steps: recipe.steps,
    cfg: recipe.guidance,
    sampler,
    scheduler: recipe.schedule === 'normal' && defaults.scheduler ? defaults.scheduler : recipe.schedule,
    loras: recipe.loras.map((l) => ({ name: baseName(l.ref), weight: l.weight })),
    control,
    init,
    shift: shift ?? defaults.shift,
    distilledGuidance: distilledGuidance ?? defaults.distilledGuidance,
  };
}

/** An image file as PNG bytes at the render size (servers take hints at the output size), preprocessed for a hint type. */
async function hintPng(path: string, width: number, height: number, hintType?: HintType): Promise<Buffer> {
  const image = await loadImageRGB(path, { width, height });
  const data = hintType ? preprocessHint(image.data, hintType, width, height) : image.data;
  return encodePixelsToPng({ data, width: image.width, height: image.height, channels: 3 });
}
