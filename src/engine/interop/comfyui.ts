// Reads ComfyUI's metadata: the tEXt `prompt` chunk (the API-format graph `{id: {class_type, inputs}}`, where
// an input is a literal or a link `[sourceNodeId, outputIndex]`) and, as a fallback, `workflow` (the UI
// graph, converted here to the API form for the node types whose widget order is known). The generation
// parameters are found by walking from the sampler node to its conditioning, model and latent inputs.
// Hostile graphs are bounded: node and link counts are capped, each walk follows one input per node and
// stops with an InputError naming the nodes when it comes back to a node it has passed (a cycle), and node
// ids are looked up as own properties only (an id like "constructor" is not a node).
import { InputError } from '../errors';
import { METADATA_LIMITS } from './metadataLimits';
import { parseJsonLossless } from './parseJsonLossless';
import { describeValue, parseCount, parseNumber, parseSeed, type ImageLoRA, type ImageMetadata } from './imageMetadata';
import { samplerFromComfy } from '../output/samplerNames';

export interface ComfyNode {
  class_type: string;
  inputs: Record<string, unknown>;
}
export type ComfyGraph = Record<string, ComfyNode>;

const SAMPLER_TYPES = new Set(['KSampler', 'KSamplerAdvanced', 'SamplerCustom', 'SamplerCustomAdvanced']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isLink(v: unknown): v is [string | number, number] {
  return Array.isArray(v) && v.length === 2 && (typeof v[0] === 'string' || typeof v[0] === 'number') && typeof v[1] === 'number';
}

function checkNodeCount(count: number, what: string): void {
  if (count > METADATA_LIMITS.comfyNodes) throw new InputError(`ComfyUI ${what} has ${count} nodes; a graph may have at most ${METADATA_LIMITS.comfyNodes}`);
}

/** An empty graph without a prototype, so that ids such as `__proto__` or `constructor` are plain keys. */
function emptyGraph(): ComfyGraph {
  return Object.create(null) as ComfyGraph;
}

/**
 * Validates the API-format graph's shape, keeping only well-formed nodes. Throws InputError for a graph of
 * more than METADATA_LIMITS.comfyNodes nodes.
 */
export function toComfyGraph(value: unknown): ComfyGraph | undefined {
  if (!isRecord(value)) return undefined;
  const entries = Object.entries(value);
  checkNodeCount(entries.length, 'prompt graph');
  const graph = emptyGraph();
  for (const [id, node] of entries) {
    if (isRecord(node) && typeof node.class_type === 'string' && isRecord(node.inputs)) {
      graph[id] = { class_type: node.class_type, inputs: node.inputs };
    }
  }
  return Object.keys(graph).length ? graph : undefined;
}

/**
 * The nodes one walk has passed, in order. Each walk follows a single input from node to node, so coming
 * back to a node means the graph is cyclic and the walk would never end.
 */
class Walk {
  private readonly path: { id: string; node: ComfyNode }[] = [];
  private readonly seen = new Map<string, number>();

  constructor(private readonly inputs: string) {}

  /** Records a step; throws InputError naming the cycle's nodes when the node was passed before. */
  visit(id: string, node: ComfyNode): void {
    const at = this.seen.get(id);
    if (at !== undefined) {
      const cycle = this.path.slice(at);
      const shown = cycle.length > 8 ? [...cycle.slice(0, 4), undefined, ...cycle.slice(-3)] : cycle;
      const names = shown.map((n) => (n ? `node ${n.id} (${n.node.class_type})` : `… ${cycle.length - 7} more …`));
      throw new InputError(`ComfyUI graph has a cycle through its ${this.inputs} inputs: ${[...names, `node ${id}`].join(' → ')}`);
    }
    this.seen.set(id, this.path.length);
    this.path.push({ id, node });
  }
}

class GraphReader {
  readonly meta: ImageMetadata = { source: 'comfyui', loras: [], unmapped: {} };
  private readonly controls = new Set<string>();
  /** The next suffix to try per note key, so notes under one key cost O(1) each, not O(notes). */
  private readonly noteSuffix = new Map<string, number>();

  constructor(private readonly graph: ComfyGraph) {}

  /** The node a link points at, with the link's output index (own properties only). */
  follow(ref: unknown): { id: string; node: ComfyNode; output: number } | undefined {
    if (!isLink(ref)) return undefined;
    const id = String(ref[0]);
    if (!Object.hasOwn(this.graph, id)) return undefined;
    return { id, node: this.graph[id], output: ref[1] };
  }

  /** An input's literal value; a link to a primitive-like node yields that node's first scalar input. */
  value(node: ComfyNode, name: string): unknown {
    const v = node.inputs[name];
    const target = this.follow(v);
    if (!target) return v;
    const inputs = target.node.inputs;
    for (const key of [name, 'value', 'text', 'string', 'seed', 'noise_seed', 'int', 'float']) {
      if (key in inputs && !isLink(inputs[key])) return inputs[key];
    }
    return undefined;
  }

  note(key: string, value: unknown): void {
    if (value === undefined || value === null || value === '') return;
    const unmapped = this.meta.unmapped;
    let k = key;
    let n = this.noteSuffix.get(key) ?? 2;
    if (Object.hasOwn(unmapped, k)) {
      while (Object.hasOwn(unmapped, `${key} ${n}`)) n++;
      k = `${key} ${n++}`;
    }
    this.noteSuffix.set(key, n);
    unmapped[k] = describeValue(value);
  }

  /** The prompt text behind a conditioning input, recording ControlNets passed on the way. */
  text(ref: unknown): string | undefined {
    const walk = new Walk('conditioning');
    for (let target = this.follow(ref); target; ) {
      const { id, node, output } = target;
      walk.visit(id, node);
      switch (node.class_type) {
        case 'CLIPTextEncode': {
          const text = this.value(node, 'text');
          return typeof text === 'string' ? text : undefined;
        }
        case 'CLIPTextEncodeSDXL': {
          const g = this.value(node, 'text_g');
          const l = this.value(node, 'text_l');
          if (typeof g === 'string' && typeof l === 'string' && l !== g && l !== '') this.note('text_l', l);
          return typeof g === 'string' ? g : typeof l === 'string' ? l : undefined;
        }
        case 'ControlNetApply':
        case 'ControlNetApplyAdvanced':
        case 'ControlNetApplySD3': {
          this.control(id, node);
          const side = node.class_type === 'ControlNetApply' ? 'conditioning' : output === 1 ? 'negative' : 'positive';
          target = this.follow(node.inputs[side]);
          break;
        }
        default: {
          const next = node.inputs.conditioning ?? node.inputs.conditioning_1 ?? node.inputs.conditioning_to ?? node.inputs.positive;
          if (next !== undefined && node.inputs.conditioning_2 !== undefined) this.note('conditioning', `${node.class_type} combines several prompts; the first is shown`);
          target = this.follow(next);
        }
      }
    }
    return undefined;
  }

  control(id: string, node: ComfyNode): void {
    if (this.controls.has(id)) return;
    this.controls.add(id);
    const loader = this.follow(node.inputs.control_net)?.node;
    const image = this.follow(node.inputs.image)?.node;
    const parts = [
      loader ? String(this.value(loader, 'control_net_name') ?? loader.class_type) : undefined,
      node.inputs.strength !== undefined ? `strength ${describeValue(this.value(node, 'strength'))}` : undefined,
      node.inputs.start_percent !== undefined ? `start ${describeValue(this.value(node, 'start_percent'))}` : undefined,
      node.inputs.end_percent !== undefined ? `end ${describeValue(this.value(node, 'end_percent'))}` : undefined,
      image ? `image ${describeValue(image.class_type === 'LoadImage' ? this.value(image, 'image') : image.class_type)}` : undefined,
    ];
    this.note(`${node.class_type}`, parts.filter(Boolean).join(', '));
  }

  /** Follows the model input through LoRA loaders and model patches to the checkpoint. */
  model(ref: unknown): void {
    const loras: ImageLoRA[] = [];
    const walk = new Walk('model');
    for (let target = this.follow(ref); target; target = this.follow(target.node.inputs.model)) {
      const { id, node } = target;
      walk.visit(id, node);
      switch (node.class_type) {
        case 'LoraLoader':
        case 'LoraLoaderModelOnly': {
          const name = this.value(node, 'lora_name');
          const weight = parseNumber(this.value(node, 'strength_model')) ?? 1;
          if (typeof name === 'string') loras.push({ name, weight });
          const clip = parseNumber(this.value(node, 'strength_clip'));
          if (clip !== undefined && clip !== weight) this.note('strength_clip', `${describeValue(name)}: ${clip}`);
          break;
        }
        case 'CheckpointLoaderSimple':
        case 'CheckpointLoader':
        case 'ImageOnlyCheckpointLoader':
        case 'UNETLoader': {
          const name = this.value(node, node.class_type === 'UNETLoader' ? 'unet_name' : 'ckpt_name');
          if (typeof name === 'string') this.meta.model = name;
          this.meta.loras = loras.reverse();
          return;
        }
        default:
          if (node.inputs.model === undefined) this.note('model', node.class_type);
          else if (!node.class_type.startsWith('ModelSampling')) this.note('model patch', node.class_type);
      }
    }
    this.meta.loras = loras.reverse();
  }

  latent(ref: unknown): void {
    const walk = new Walk('latent');
    for (let target = this.follow(ref); target; ) {
      const { id, node } = target;
      walk.visit(id, node);
      const inputs = node.inputs;
      if (inputs.width !== undefined && inputs.height !== undefined && node.class_type.startsWith('Empty')) {
        const width = parseCount(this.value(node, 'width'));
        const height = parseCount(this.value(node, 'height'));
        if (width) this.meta.width = width;
        if (height) this.meta.height = height;
        const batch = parseCount(this.value(node, 'batch_size'));
        if (batch && batch > 1) this.note('batch_size', batch);
        return;
      }
      if (node.class_type.startsWith('VAEEncode')) {
        const image = this.follow(inputs.pixels)?.node;
        const name = image?.class_type === 'LoadImage' ? this.value(image, 'image') : undefined;
        if (typeof name === 'string') this.meta.initImage = name;
        else this.note('init image', image?.class_type);
        if (node.class_type !== 'VAEEncode') this.note('latent', node.class_type);
        return;
      }
      this.note('latent', node.class_type);
      target = this.follow(inputs.samples ?? inputs.latent ?? inputs.latent_image);
    }
  }

  sigmas(ref: unknown): void {
    const target = this.follow(ref);
    if (!target) return;
    const { node } = target;
    const steps = parseCount(this.value(node, 'steps'));
    if (steps) this.meta.steps = steps;
    if (node.class_type === 'KarrasScheduler') this.meta.schedule = 'karras';
    const scheduler = this.value(node, 'scheduler');
    if (typeof scheduler === 'string') this.scheduler(scheduler);
    else if (node.class_type !== 'KarrasScheduler' && node.class_type !== 'BasicScheduler') this.note('sigmas', node.class_type);
    this.denoise(this.value(node, 'denoise'));
  }

  samplerName(name: unknown): void {
    if (typeof name !== 'string') return;
    const { sampler } = samplerFromComfy(name);
    if (sampler) this.meta.sampler = sampler;
    else this.note('sampler_name', name);
  }

  scheduler(name: string): void {
    const { schedule } = samplerFromComfy(undefined, name);
    if (schedule) this.meta.schedule = schedule;
    else this.note('scheduler', name);
  }

  denoise(value: unknown): void {
    const denoise = parseNumber(value);
    if (denoise !== undefined && denoise < 1) this.meta.denoise = denoise;
  }

  seed(value: unknown): void {
    const seed = parseSeed(value);
    if (seed !== undefined) this.meta.seed = seed;
  }

  guidance(value: unknown): void {
    const cfg = parseNumber(value);
    if (cfg !== undefined) this.meta.guidance = cfg;
  }

  prompts(positive: unknown, negative: unknown): void {
    const p = this.text(positive);
    const n = this.text(negative);
    if (p !== undefined) this.meta.prompt = p;
    if (n !== undefined && n !== '') this.meta.negative = n;
  }

  /** Reads one sampler node and everything it depends on. */
  sampler(node: ComfyNode): void {
    const inputs = node.inputs;
    switch (node.class_type) {
      case 'KSampler':
      case 'KSamplerAdvanced': {
        this.seed(this.value(node, node.class_type === 'KSampler' ? 'seed' : 'noise_seed'));
        const steps = parseCount(this.value(node, 'steps'));
        if (steps) this.meta.steps = steps;
        this.guidance(this.value(node, 'cfg'));
        this.samplerName(this.value(node, 'sampler_name'));
        const scheduler = this.value(node, 'scheduler');
        if (typeof scheduler === 'string') this.scheduler(scheduler);
        this.denoise(this.value(node, 'denoise'));
        for (const key of ['start_at_step', 'end_at_step', 'add_noise', 'return_with_leftover_noise']) {
          if (inputs[key] !== undefined && !isLink(inputs[key])) this.note(key, inputs[key]);
        }
        this.prompts(inputs.positive, inputs.negative);
        break;
      }
      case 'SamplerCustom':
        this.seed(this.value(node, 'noise_seed'));
        this.guidance(this.value(node, 'cfg'));
        this.prompts(inputs.positive, inputs.negative);
        break;
      case 'SamplerCustomAdvanced': {
        const noise = this.follow(inputs.noise)?.node;
        if (noise) this.seed(this.value(noise, 'noise_seed'));
        const guider = this.follow(inputs.guider)?.node;
        if (guider) {
          this.guidance(this.value(guider, 'cfg'));
          this.prompts(guider.inputs.positive ?? guider.inputs.conditioning, guider.inputs.negative);
          this.model(guider.inputs.model);
        }
        break;
      }
    }
    if (inputs.sampler !== undefined) {
      const select = this.follow(inputs.sampler)?.node;
      if (select) this.samplerName(this.value(select, 'sampler_name'));
    }
    if (inputs.sigmas !== undefined) this.sigmas(inputs.sigmas);
    if (inputs.model !== undefined) this.model(inputs.model);
    this.latent(inputs.latent_image);
  }
}

/** The sampler that produced the image: prefer one starting from an empty latent (the base pass). */
function pickSampler(graph: ComfyGraph): [string, ComfyNode] | undefined {
  const samplers = Object.entries(graph)
    .filter(([, n]) => SAMPLER_TYPES.has(n.class_type))
    .sort(([a], [b]) => Number(a) - Number(b) || a.localeCompare(b));
  const fromEmpty = samplers.find(([, n]) => {
    const latent = n.inputs.latent_image;
    return isLink(latent) && Object.hasOwn(graph, String(latent[0])) && graph[String(latent[0])].class_type.startsWith('Empty');
  });
  return fromEmpty ?? samplers[0];
}

/**
 * Normalised metadata from an API-format graph (the `prompt` chunk). Undefined if it has no sampler;
 * InputError for a cycle on a walked path (naming its nodes) or more nodes than the cap.
 */
export function metadataFromComfyGraph(graph: ComfyGraph): ImageMetadata | undefined {
  checkNodeCount(Object.keys(graph).length, 'graph');
  const picked = pickSampler(graph);
  if (!picked) return undefined;
  const reader = new GraphReader(graph);
  reader.sampler(picked[1]);
  for (const [id, node] of Object.entries(graph)) {
    if (SAMPLER_TYPES.has(node.class_type) && id !== picked[0]) reader.note('other sampler', `${node.class_type} (node ${id})`);
  }
  return reader.meta;
}

/** The JSON value of a chunk's text; undefined when it is not JSON (InputError when it passes a cap). */
function parseJsonText(text: string): unknown {
  try {
    return parseJsonLossless(text);
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/**
 * Parses the `prompt` chunk text. Undefined when it is not an API graph with a sampler; InputError when
 * it passes a cap (JSON size or depth, node count) or its graph has a cycle.
 */
export function parseComfyPrompt(text: string): ImageMetadata | undefined {
  const graph = toComfyGraph(parseJsonText(text));
  return graph ? metadataFromComfyGraph(graph) : undefined;
}

/** Widget order of the UI graph's `widgets_values` for the node types the reader understands. */
const WIDGETS: Record<string, string[]> = {
  KSampler: ['seed', 'control_after_generate', 'steps', 'cfg', 'sampler_name', 'scheduler', 'denoise'],
  KSamplerAdvanced: ['add_noise', 'noise_seed', 'control_after_generate', 'steps', 'cfg', 'sampler_name', 'scheduler', 'start_at_step', 'end_at_step', 'return_with_leftover_noise'],
  SamplerCustom: ['add_noise', 'noise_seed', 'control_after_generate', 'cfg'],
  CLIPTextEncode: ['text'],
  EmptyLatentImage: ['width', 'height', 'batch_size'],
  CheckpointLoaderSimple: ['ckpt_name'],
  UNETLoader: ['unet_name', 'weight_dtype'],
  LoraLoader: ['lora_name', 'strength_model', 'strength_clip'],
  LoraLoaderModelOnly: ['lora_name', 'strength_model'],
  KSamplerSelect: ['sampler_name'],
  BasicScheduler: ['scheduler', 'steps', 'denoise'],
  KarrasScheduler: ['steps', 'sigma_max', 'sigma_min', 'rho'],
  SDTurboScheduler: ['steps', 'denoise'],
  RandomNoise: ['noise_seed', 'control_after_generate'],
  CFGGuider: ['cfg'],
  ControlNetLoader: ['control_net_name'],
  ControlNetApply: ['strength'],
  ControlNetApplyAdvanced: ['strength', 'start_percent', 'end_percent'],
  LoadImage: ['image', 'upload'],
  PrimitiveNode: ['value'],
};

/**
 * Converts a UI-format workflow (`{nodes, links}`) to an API-format graph, as far as widget orders are
 * known. InputError for more nodes or links than the caps.
 */
export function comfyWorkflowToGraph(workflow: unknown): ComfyGraph | undefined {
  if (!isRecord(workflow) || !Array.isArray(workflow.nodes) || !Array.isArray(workflow.links)) return undefined;
  checkNodeCount(workflow.nodes.length, 'workflow');
  if (workflow.links.length > METADATA_LIMITS.comfyLinks) {
    throw new InputError(`ComfyUI workflow has ${workflow.links.length} links; a workflow may have at most ${METADATA_LIMITS.comfyLinks}`);
  }
  const links = new Map<number, [string, number]>();
  for (const link of workflow.links) {
    // [linkId, fromNode, fromSlot, toNode, toSlot, type]
    if (Array.isArray(link) && typeof link[0] === 'number' && typeof link[2] === 'number') links.set(link[0], [String(link[1]), link[2]]);
  }
  const graph = emptyGraph();
  for (const node of workflow.nodes) {
    if (!isRecord(node) || typeof node.type !== 'string' || node.mode === 4 /* bypassed */) continue;
    const inputs = Object.create(null) as Record<string, unknown>;
    const names = Object.hasOwn(WIDGETS, node.type) ? WIDGETS[node.type] : [];
    const widgets = Array.isArray(node.widgets_values) ? node.widgets_values : [];
    names.forEach((name, i) => {
      if (i < widgets.length) inputs[name] = widgets[i];
    });
    for (const input of Array.isArray(node.inputs) ? node.inputs : []) {
      if (isRecord(input) && typeof input.name === 'string' && typeof input.link === 'number' && links.has(input.link)) {
        inputs[input.name] = links.get(input.link);
      }
    }
    graph[String(node.id)] = { class_type: node.type, inputs };
  }
  return Object.keys(graph).length ? graph : undefined;
}

/** Parses the `workflow` chunk text (used when `prompt` is missing or unreadable); errors as parseComfyPrompt. */
export function parseComfyWorkflow(text: string): ImageMetadata | undefined {
  const graph = comfyWorkflowToGraph(parseJsonText(text));
  return graph ? metadataFromComfyGraph(graph) : undefined;
}
