// The model families a render server can run for us, and what each one takes. The flow-matching
// families load their parts separately and sample differently from Stable Diffusion; their defaults are
// those of the published ComfyUI example workflows (Comfy-Org/workflow_templates:
// flux_dev_full_text_to_image, image_z_image_turbo, image_qwen_image).
import { InputError } from '../errors';

export const REMOTE_FAMILIES = ['sd', 'flux-dev', 'flux-schnell', 'z-image', 'qwen-image'] as const;
export type RemoteFamily = (typeof REMOTE_FAMILIES)[number];

export interface RemoteFamilyInfo {
  /** Text encoders as the example workflow loads them (empty: inside the checkpoint). */
  readonly textEncoders: readonly string[];
  readonly vae?: string;
  /** Whether the scene's `shift` applies (a timestep shift node follows the model loader). */
  readonly takesShift: boolean;
  /** Whether `distilled_guidance` applies (the model embeds a guidance value). */
  readonly takesDistilledGuidance: boolean;
  readonly shift?: number;
  readonly distilledGuidance?: number;
  /** The sigma schedule the examples use, sent when the scene keeps the `normal` default. */
  readonly scheduler?: string;
}

const FAMILIES: Readonly<Record<RemoteFamily, RemoteFamilyInfo>> = {
  sd: { textEncoders: [], takesShift: false, takesDistilledGuidance: false },
  'flux-dev': { scheduler: 'simple', textEncoders: ['clip_l.safetensors', 't5xxl_fp16.safetensors'], vae: 'ae.safetensors', takesShift: false, takesDistilledGuidance: true, distilledGuidance: 3.5 },
  'flux-schnell': { scheduler: 'simple', textEncoders: ['clip_l.safetensors', 't5xxl_fp16.safetensors'], vae: 'ae.safetensors', takesShift: false, takesDistilledGuidance: false },
  'z-image': { scheduler: 'simple', textEncoders: ['qwen_3_4b.safetensors'], vae: 'ae.safetensors', takesShift: true, takesDistilledGuidance: false, shift: 3 },
  'qwen-image': { scheduler: 'simple', textEncoders: ['qwen_2.5_vl_7b_fp8_scaled.safetensors'], vae: 'qwen_image_vae.safetensors', takesShift: true, takesDistilledGuidance: false, shift: 3.5 },
};

export function isRemoteFamily(name: string): name is RemoteFamily {
  return (REMOTE_FAMILIES as readonly string[]).includes(name);
}

export function familyDefaults(family: RemoteFamily): RemoteFamilyInfo {
  return FAMILIES[family];
}

/**
 * Rejects flow-model keys the family does not use: a `shift` on a model that has no timestep shift, or a
 * distilled guidance on one without a guidance embedding, would otherwise be silently ignored.
 */
export function validateFamilyKeys(family: RemoteFamily, keys: { readonly shift?: number; readonly distilledGuidance?: number }): void {
  const info = FAMILIES[family];
  const takes = (flag: boolean) => REMOTE_FAMILIES.filter((f) => FAMILIES[f][flag ? 'takesShift' : 'takesDistilledGuidance']).join(', ');
  if (keys.shift !== undefined && keys.shift !== 0 && !info.takesShift) {
    throw new InputError(`shift ${keys.shift} does not apply to ${family} models; it is for the families with a timestep shift: ${takes(true)}`);
  }
  if (keys.distilledGuidance !== undefined && keys.distilledGuidance !== 0 && !info.takesDistilledGuidance) {
    throw new InputError(`distilled_guidance ${keys.distilledGuidance} does not apply to ${family} models; it is for guidance-distilled families: ${takes(false)} (use guidance for classifier-free guidance)`);
  }
}
