// A RemoteRequest as an AUTOMATIC1111 / Forge API payload (modules/api/models.py:
// StableDiffusionTxt2ImgProcessingAPI / StableDiffusionImg2ImgProcessingAPI): the model switched through
// override_settings.sd_model_checkpoint, LoRAs in the prompt as `<lora:name:weight>` (how the webui's
// Lora extension reads them), ControlNet units through alwayson_scripts.controlnet.args (the
// sd-webui-controlnet API), an init image as img2img's init_images with denoising_strength.
import { InputError } from '../../errors';
import type { RemoteRequest } from '../remoteRequest';

/** ComfyUI's sampler names (our request vocabulary) → the webui's sampler names. */
export const A1111_SAMPLERS: Readonly<Record<string, string>> = {
  euler: 'Euler',
  euler_ancestral: 'Euler a',
  ddim: 'DDIM',
  dpmpp_2m: 'DPM++ 2M',
  lcm: 'LCM',
};

/** Our schedules → the webui's scheduler labels (modules/sd_schedulers.py, 1.9+). */
export const A1111_SCHEDULERS: Readonly<Record<string, string>> = {
  normal: 'Normal',
  karras: 'Karras',
  simple: 'Simple',
};

export type A1111Payload = Record<string, unknown>;

function loraTag(name: string, weight: number): string {
  return `<lora:${name.replace(/\.(safetensors|pt|ckpt)$/i, '')}:${weight}>`;
}

/** The endpoint (`txt2img` or `img2img`) and its JSON body; the seed is a bigint beyond 2^53. */
export function buildA1111Payload(request: RemoteRequest): { endpoint: 'txt2img' | 'img2img'; payload: A1111Payload } {
  if (request.family !== 'sd') throw new InputError(`A1111-compatible servers take single-file checkpoints here; ${request.family} models render through a ComfyUI server`);
  const sampler = A1111_SAMPLERS[request.sampler];
  if (!sampler) throw new InputError(`sampler '${request.sampler}' has no A1111 equivalent (known: ${Object.keys(A1111_SAMPLERS).join(', ')})`);
  const seed = BigInt(request.seed);
  const payload: A1111Payload = {
    prompt: [request.prompt, ...request.loras.map((l) => loraTag(l.name, l.weight))].join(' ').trim(),
    negative_prompt: request.negative,
    seed: seed <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(seed) : seed,
    sampler_name: sampler,
    scheduler: A1111_SCHEDULERS[request.scheduler] ?? 'Automatic',
    steps: request.steps,
    cfg_scale: request.cfg,
    width: request.width,
    height: request.height,
    batch_size: 1,
    n_iter: 1,
    override_settings: { sd_model_checkpoint: request.model },
    override_settings_restore_afterwards: true,
    send_images: true,
    save_images: false,
  };
  if (request.control.length) {
    payload.alwayson_scripts = {
      controlnet: {
        args: request.control.map((c) => ({
          enabled: true,
          image: c.png.toString('base64'),
          module: 'none',
          model: c.controlNet,
          weight: c.strength,
          guidance_start: c.start,
          guidance_end: c.end,
          resize_mode: 'Just Resize',
          pixel_perfect: false,
          control_mode: 'Balanced',
        })),
      },
    };
  }
  if (!request.init) return { endpoint: 'txt2img', payload };
  return { endpoint: 'img2img', payload: { ...payload, init_images: [request.init.png.toString('base64')], denoising_strength: request.init.strength, resize_mode: 0 } };
}
