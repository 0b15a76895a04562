// A RemoteRequest as a ComfyUI prompt in the API format: `{ "<id>": { class_type, inputs } }`, where an
// input is a literal or a link `[source id, output index]` (script_examples/basic_api_example.py). Core
// nodes only (nodes.py and comfy_extras), wired per family as the published example workflows wire them:
//   sd:           CheckpointLoaderSimple → (LoraLoader…) → CLIPTextEncode ×2 → KSampler → VAEDecode → SaveImage
//   flux-dev:     UNETLoader + DualCLIPLoader(type flux) + VAELoader, CLIPTextEncodeFlux (guidance),
//                 ConditioningZeroOut as negative, EmptySD3LatentImage, KSampler cfg 1
//   flux-schnell: as flux-dev with CLIPTextEncode (no guidance embedding)
//   z-image:      UNETLoader + CLIPLoader(type lumina2) + VAELoader, ModelSamplingAuraFlow(shift),
//                 ConditioningZeroOut as negative, EmptySD3LatentImage
//   qwen-image:   UNETLoader + CLIPLoader(type qwen_image) + VAELoader, ModelSamplingAuraFlow(shift),
//                 CLIPTextEncode negative, EmptySD3LatentImage
// Hints go through LoadImage → ControlNetLoader → ControlNetApplyAdvanced; an init image through
// LoadImage → VAEEncode with KSampler's denoise set to its strength.
import type { RemoteRequest } from '../remoteRequest';

export type ComfyLink = readonly [string, number];
export type ComfyInput = string | number | bigint | boolean | ComfyLink;
export interface ComfyNode {
  readonly class_type: string;
  readonly inputs: Record<string, ComfyInput>;
}
export type ComfyGraph = Record<string, ComfyNode>;

/** The SaveImage prefix, so our outputs are recognisable in the server's output folder. */
export const COMFY_OUTPUT_PREFIX = 'imgprompt';

class GraphBuilder {
  readonly graph: ComfyGraph = {};
  private next = 1;
  add(class_type: string, inputs: Record<string, ComfyInput>): string {
    const id = String(this.next++);
    this.graph[id] = { class_type, inputs };
    return id;
  }
}

const out = (id: string, index = 0): ComfyLink => [id, index];

/** ComfyUI's INT inputs are 64-bit: a seed beyond 2^53 must not pass through a double. */
function seedValue(seed: string): number | bigint {
  const n = BigInt(seed);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

/** The API-format prompt for a request. Node ids are assigned in build order ("1", "2", …). */
export function buildComfyGraph(request: RemoteRequest): ComfyGraph {
  const g = new GraphBuilder();
  let model: ComfyLink;
  let clip: ComfyLink;
  let vae: ComfyLink;
  const flow = request.family !== 'sd';
  if (!flow) {
    const ckpt = g.add('CheckpointLoaderSimple', { ckpt_name: request.model });
    [model, clip, vae] = [out(ckpt, 0), out(ckpt, 1), out(ckpt, 2)];
  } else {
    model = out(g.add('UNETLoader', { unet_name: request.model, weight_dtype: 'default' }));
    const [first, second] = request.textEncoders;
    if (request.family === 'flux-dev' || request.family === 'flux-schnell') {
      clip = out(g.add('DualCLIPLoader', { clip_name1: first, clip_name2: second, type: 'flux' }));
    } else {
      clip = out(g.add('CLIPLoader', { clip_name: first, type: request.family === 'z-image' ? 'lumina2' : 'qwen_image' }));
    }
    vae = out(g.add('VAELoader', { vae_name: request.vae ?? '' }));
  }
  for (const lora of request.loras) {
    const id = g.add('LoraLoader', { model, clip, lora_name: lora.name, strength_model: lora.weight, strength_clip: lora.weight });
    [model, clip] = [out(id, 0), out(id, 1)];
  }
  if (request.family === 'z-image' || request.family === 'qwen-image') {
    model = out(g.add('ModelSamplingAuraFlow', { model, shift: request.shift ?? 3 }));
  }

  let positive: ComfyLink;
  if (request.family === 'flux-dev') {
    positive = out(g.add('CLIPTextEncodeFlux', { clip, clip_l: request.prompt, t5xxl: request.prompt, guidance: request.distilledGuidance ?? 3.5 }));
  } else {
    positive = out(g.add('CLIPTextEncode', { text: request.prompt, clip }));
  }
  // Distilled models sample at cfg 1, where the negative is unused: the examples zero the positive out.
  const zeroNegative = flow && request.family !== 'qwen-image' && (request.cfg === 1 || request.negative === '');
  let negative: ComfyLink = zeroNegative ? out(g.add('ConditioningZeroOut', { conditioning: positive })) : out(g.add('CLIPTextEncode', { text: request.negative, clip }));

  for (const c of request.control) {
    const image = g.add('LoadImage', { image: c.uploadName });
    const net = g.add('ControlNetLoader', { control_net_name: c.controlNet });
    const inputs: Record<string, ComfyInput> = { positive, negative, control_net: out(net), image: out(image), strength: c.strength, start_percent: c.start, end_percent: c.end };
    if (flow) inputs.vae = vae;
    const apply = g.add('ControlNetApplyAdvanced', inputs);
    [positive, negative] = [out(apply, 0), out(apply, 1)];
  }

  let latent: ComfyLink;
  if (request.init) {
    const image = g.add('LoadImage', { image: request.init.uploadName });
    latent = out(g.add('VAEEncode', { pixels: out(image), vae }));
  } else {
    latent = out(g.add(flow ? 'EmptySD3LatentImage' : 'EmptyLatentImage', { width: request.width, height: request.height, batch_size: 1 }));
  }
  const sampled = g.add('KSampler', {
    seed: seedValue(request.seed),
    steps: request.steps,
    cfg: request.cfg,
    sampler_name: request.sampler,
    scheduler: request.scheduler,
    denoise: request.init ? request.init.strength : 1,
    model,
    positive,
    negative,
    latent_image: latent,
  });
  const decoded = g.add('VAEDecode', { samples: out(sampled), vae });
  g.add('SaveImage', { filename_prefix: COMFY_OUTPUT_PREFIX, images: out(decoded) });
  return g.graph;
}

/** JSON text of a value that may hold bigints (written as exact integer literals, as Python's json reads them). */
export function jsonWithBigInts(value: unknown): string {
  const marker = '\u0000bigint:';
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${marker}${v.toString()}` : v));
  return text.replace(/"\\u0000bigint:(\d+)"/g, '$1');
}

/** The node ids of every class the graph uses, by class (for availability checks against /object_info). */
export function graphClasses(graph: ComfyGraph): Set<string> {
  return new Set(Object.values(graph).map((n) => n.class_type));
}
