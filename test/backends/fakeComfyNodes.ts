// The fake ComfyUI's node catalogue (/object_info, in both combo spellings ComfyUI has used: a bare list
// `[[...choices], {...}]` and `["COMBO", { options }]`) and its multipart reader for /upload/image.
import { COMFY_SAMPLERS } from '../../src/engine/backends/remoteRequest';

export interface GraphNode {
  readonly class_type: string;
  readonly inputs: Record<string, unknown>;
}
export type Graph = Record<string, GraphNode>;

type Spec = readonly unknown[];
export interface NodeInfo {
  input: { required: Record<string, Spec>; optional?: Record<string, Spec> };
  output: string[];
  name: string;
  output_node: boolean;
  category: string;
}

const KSAMPLER_NAMES = ['euler', 'euler_ancestral', 'heun', 'dpm_2', 'dpmpp_2m', 'dpmpp_sde', 'ddim', 'lcm', 'res_multistep', 'uni_pc'];
const SCHEDULER_NAMES = ['normal', 'karras', 'exponential', 'sgm_uniform', 'simple', 'ddim_uniform', 'beta'];

/** ComfyUI's sampler name → ours. */
export function reverseSampler(name: string): string {
  const found = Object.entries(COMFY_SAMPLERS).find(([, comfy]) => comfy === name);
  if (!found) throw new Error(`the fake server's engine has no sampler '${name}'`);
  return found[0];
}

export function objectInfo(files: { checkpoints: readonly string[]; loras: readonly string[]; controlnets: readonly string[]; inputs: readonly string[] }): Record<string, NodeInfo> {
  const node = (name: string, required: Record<string, Spec>, output: string[], outputNode = false): NodeInfo => ({ input: { required }, output, name, output_node: outputNode, category: 'sd' });
  const float = (d: number) => ['FLOAT', { default: d, min: -100, max: 100, step: 0.01 }];
  return {
    CheckpointLoaderSimple: node('CheckpointLoaderSimple', { ckpt_name: [[...files.checkpoints]] }, ['MODEL', 'CLIP', 'VAE']),
    LoraLoader: node('LoraLoader', { model: ['MODEL'], clip: ['CLIP'], lora_name: [[...files.loras]], strength_model: float(1), strength_clip: float(1) }, ['MODEL', 'CLIP']),
    CLIPTextEncode: node('CLIPTextEncode', { text: ['STRING', { multiline: true, dynamicPrompts: true }], clip: ['CLIP'] }, ['CONDITIONING']),
    KSampler: node(
      'KSampler',
      {
        model: ['MODEL'],
        seed: ['INT', { default: 0, min: 0, max: 0xffffffffffffffff }],
        steps: ['INT', { default: 20, min: 1, max: 10000 }],
        cfg: float(8),
        sampler_name: ['COMBO', { options: KSAMPLER_NAMES }],
        scheduler: ['COMBO', { options: SCHEDULER_NAMES }],
        positive: ['CONDITIONING'],
        negative: ['CONDITIONING'],
        latent_image: ['LATENT'],
        denoise: float(1),
      },
      ['LATENT'],
    ),
    EmptyLatentImage: node('EmptyLatentImage', { width: ['INT', { default: 512 }], height: ['INT', { default: 512 }], batch_size: ['INT', { default: 1 }] }, ['LATENT']),
    VAEDecode: node('VAEDecode', { samples: ['LATENT'], vae: ['VAE'] }, ['IMAGE']),
    VAEEncode: node('VAEEncode', { pixels: ['IMAGE'], vae: ['VAE'] }, ['LATENT']),
    SaveImage: node('SaveImage', { images: ['IMAGE'], filename_prefix: ['STRING', { default: 'ComfyUI' }] }, [], true),
    LoadImage: node('LoadImage', { image: [[...files.inputs], { image_upload: true }] }, ['IMAGE', 'MASK']),
    ControlNetLoader: node('ControlNetLoader', { control_net_name: [[...files.controlnets]] }, ['CONTROL_NET']),
    ControlNetApplyAdvanced: node(
      'ControlNetApplyAdvanced',
      { positive: ['CONDITIONING'], negative: ['CONDITIONING'], control_net: ['CONTROL_NET'], image: ['IMAGE'], strength: float(1), start_percent: float(0), end_percent: float(1) },
      ['CONDITIONING', 'CONDITIONING'],
    ),
  };
}

/** multipart/form-data → fields by name (enough of RFC 7578 for what fetch's FormData sends). */
export function readMultipart(body: Buffer, contentType: string): Map<string, { filename?: string; data: Buffer }> {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  const fields = new Map<string, { filename?: string; data: Buffer }>();
  if (!boundary) return fields;
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  let start = body.indexOf(delimiter);
  while (start !== -1) {
    const next = body.indexOf(delimiter, start + delimiter.length);
    if (next === -1) break;
    const part = body.subarray(start + delimiter.length + 2, next - 2);
    const headerEnd = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, headerEnd).toString('utf8');
    const name = /name="([^"]*)"/.exec(headers)?.[1];
    const filename = /filename="([^"]*)"/.exec(headers)?.[1];
    if (name) fields.set(name, { filename, data: part.subarray(headerEnd + 4) });
    start = next;
  }
  return fields;
}
