// UNet component: predicts noise (or v, per the scheduler config) for a latent batch at one timestep,
// conditioned on text hidden states. The timestep's dtype and shape come from the graph: float32 or
// float16 or int64, scalar [] or [batch] or [1], as different exporters write it. Further inputs
// (SDXL text_embeds/time_ids...) are passed by name through `extra`. A UNet exported with ControlNet
// residual inputs (`down_block_additional_residual_0..N-1`, `mid_block_additional_residual`) takes them
// through `residuals`; without a ControlNet they are fed zeros of shape [1, C, 1, 1], which onnxruntime
// broadcasts into the Add, so such a UNet renders exactly like one exported without them. A
// guidance-distilled UNet (LCM) also takes `timestep_cond` [batch, time_cond_proj_dim], the guidance-scale
// embedding (pipeline/guidanceEmbedding.ts), through `timestepCond`; a UNet without that input never gets it.
import { ModelError } from '../errors';
import { requireInput, requireOutput } from './componentIO';
import type { HostTensor, OnnxSession, OnnxValueInfo } from '../onnx/onnxSession';
import { formatDims, type FloatTensor } from '../onnx/tensor';

const STANDARD_INPUTS = ['sample', 'timestep', 'encoder_hidden_states'];
const TIMESTEP_COND = 'timestep_cond';
const DOWN_RESIDUAL = /^down_block_(?:additional_)?res(?:idual|_sample)?s?_?(\d+)$/;
const MID_RESIDUAL = /^mid_block_(?:additional_)?res(?:idual|_sample)?s?(?:_0)?$/;

/** ControlNet residuals: one per UNet skip tensor, plus the mid block's. */
export interface UNetResiduals {
  readonly down: readonly FloatTensor[];
  readonly mid: FloatTensor;
}

/** Names of a graph's residual values in index order, or undefined when it has none. Throws for a gap. */
export function residualNames(values: readonly OnnxValueInfo[], modelPath: string, what: string): { down: OnnxValueInfo[]; mid: OnnxValueInfo } | undefined {
  const down: OnnxValueInfo[] = [];
  let mid: OnnxValueInfo | undefined;
  for (const v of values) {
    const m = DOWN_RESIDUAL.exec(v.name);
    if (m) down[Number(m[1])] = v;
    else if (MID_RESIDUAL.test(v.name)) mid = v;
  }
  if (down.length === 0 && !mid) return undefined;
  const missing = [...down.keys()].filter((i) => !down[i]);
  if (!mid || missing.length > 0 || down.length === 0) {
    throw new ModelError(
      `the ${what} has an incomplete set of ControlNet residuals (${down.filter(Boolean).length} down-block ${mid ? 'and a' : 'and no'} mid-block value${missing.length ? `; missing index ${missing.join(', ')}` : ''})`,
      modelPath,
    );
  }
  return { down, mid };
}

/** Builds one feed per ONNX timestep signature: float/int, scalar / [1] / [batch]. */
export function timestepFeed(info: OnnxValueInfo, timestep: number | readonly number[], batch: number, modelPath: string): HostTensor {
  const values = typeof timestep === 'number' ? [timestep] : [...timestep];
  if (values.length !== 1 && values.length !== batch) {
    throw new RangeError(`timestep must be one number or one per batch item (${batch}); got ${values.length}`);
  }
  const allEqual = values.every((v) => v === values[0]);
  const shape = info.shape;
  if (shape.length === 0 || shape[0] === 1) {
    if (!allEqual) {
      throw new ModelError(
        `this graph takes one timestep for the whole batch (timestep ${info.type} ${formatDims(shape)}); got different values ${values.join(', ')}`,
        modelPath,
      );
    }
    return shape.length === 0 ? { data: [values[0]], dims: [] } : { data: [values[0]], dims: [1] };
  }
  return { data: values.length === batch ? values : new Array<number>(batch).fill(values[0]), dims: [batch] };
}

export interface UNetInput {
  /** Latents [batch, channels, height, width] (already scaled by the scheduler for the model input). */
  readonly sample: FloatTensor;
  /** One timestep for the whole batch, or one per batch item. Integer graphs get it truncated toward zero. */
  readonly timestep: number | readonly number[];
  /** Text hidden states [batch, sequenceLength, hiddenSize]. */
  readonly encoderHiddenStates: FloatTensor;
  /** ControlNet residuals (summed over the active ControlNets); zeros when absent. */
  readonly residuals?: UNetResiduals;
  /** The guidance embedding [1 or batch, width] for a graph with a `timestep_cond` input; never for others. */
  readonly timestepCond?: FloatTensor;
  /** Any further graph inputs by name: SDXL `text_embeds` / `time_ids`... */
  readonly extra?: Readonly<Record<string, FloatTensor>>;
}

export class UNet {
  private readonly timestepInfo: OnnxValueInfo;
  private readonly timestepCondInfo: OnnxValueInfo | undefined;
  private readonly outputName: string;
  /** The residual inputs when the graph was exported for ControlNet, in index order. */
  readonly residualInputs: { readonly down: readonly OnnxValueInfo[]; readonly mid: OnnxValueInfo } | undefined;
  private readonly zeroResiduals: Record<string, HostTensor> = {};

  constructor(readonly session: OnnxSession) {
    for (const name of STANDARD_INPUTS) requireInput(session, 'UNet', name);
    this.timestepInfo = requireInput(session, 'UNet', 'timestep');
    if (this.timestepInfo.shape.length > 1) {
      throw new ModelError(`input 'timestep' has shape ${formatDims(this.timestepInfo.shape)}; a UNet timestep is a scalar or a [batch] vector`, session.modelPath);
    }
    this.timestepCondInfo = session.input(TIMESTEP_COND);
    if (this.timestepCondInfo && this.timestepCondInfo.shape.length !== 2) {
      throw new ModelError(`input '${TIMESTEP_COND}' has shape ${formatDims(this.timestepCondInfo.shape)}; expected [batch, time_cond_proj_dim]`, session.modelPath);
    }
    this.outputName = requireOutput(session, 'UNet', ['out_sample']).name;
    this.residualInputs = residualNames(session.inputs, session.modelPath, 'UNet');
    for (const info of this.residualInputs ? [...this.residualInputs.down, this.residualInputs.mid] : []) {
      if (info.shape.length !== 4 || typeof info.shape[1] !== 'number') {
        throw new ModelError(`residual input '${info.name}' has shape ${formatDims(info.shape)}; expected [batch, channels, height, width] with a fixed channel count`, session.modelPath);
      }
      // Symbolic axes take a broadcast 1; fixed axes (static exports) get their declared size.
      const dims = info.shape.map((d) => (typeof d === 'number' ? d : 1));
      this.zeroResiduals[info.name] = { data: new Float32Array(dims.reduce((a, b) => a * b, 1)), dims };
    }
  }

  /** Graph inputs beyond sample/timestep/encoder_hidden_states, timestep_cond and residuals, which `extra` must supply. */
  get extraInputNames(): string[] {
    const residuals = new Set(Object.keys(this.zeroResiduals));
    return this.session.inputs.map((i) => i.name).filter((n) => !STANDARD_INPUTS.includes(n) && n !== TIMESTEP_COND && !residuals.has(n));
  }

  /**
   * The width of the guidance embedding when the graph takes `timestep_cond`, else undefined. A symbolic
   * width is taken from `configured` (unet/config.json's time_cond_proj_dim); a fixed one must agree with it.
   */
  timestepCondWidth(configured?: number): number | undefined {
    const info = this.timestepCondInfo;
    if (!info) return undefined;
    const fixed = info.shape[1];
    if (typeof fixed === 'number') {
      if (configured !== undefined && configured !== fixed) {
        throw new ModelError(`input '${TIMESTEP_COND}' is ${fixed} wide but unet/config.json says time_cond_proj_dim ${configured}`, this.session.modelPath);
      }
      return fixed;
    }
    if (configured === undefined) {
      throw new ModelError(`input '${TIMESTEP_COND}' has shape ${formatDims(info.shape)} and unet/config.json gives no time_cond_proj_dim, so the guidance embedding's width is unknown`, this.session.modelPath);
    }
    return configured;
  }

  /** How the graph takes its timestep, e.g. `float32 [batch]` or `int64 []`. */
  get timestepSignature(): string {
    return `${this.timestepInfo.type} ${formatDims(this.timestepInfo.shape)}`;
  }

  get runTimeMs(): number {
    return this.session.runTimeMs;
  }

  async predict(input: UNetInput, signal?: AbortSignal): Promise<FloatTensor> {
    const batch = input.sample.dims[0];
    const feeds: Record<string, HostTensor> = {
      sample: input.sample,
      timestep: timestepFeed(this.timestepInfo, input.timestep, batch, this.session.modelPath),
      encoder_hidden_states: input.encoderHiddenStates,
      ...this.timestepCondFeed(input.timestepCond, batch),
      ...this.residualFeeds(input.residuals),
      ...input.extra,
    };
    const result = await this.session.run(feeds, [this.outputName], signal);
    return result[this.outputName];
  }

  /** The embedding repeated over the batch, as diffusers repeats `w` per image. */
  private timestepCondFeed(cond: FloatTensor | undefined, batch: number): Record<string, HostTensor> {
    if (!this.timestepCondInfo) {
      if (cond) throw new ModelError(`this UNet has no '${TIMESTEP_COND}' input, so it takes no guidance embedding`, this.session.modelPath);
      return {};
    }
    if (!cond) {
      throw new ModelError(`this UNet is guidance-distilled (input '${TIMESTEP_COND}'): it needs the guidance-scale embedding, and no classifier-free guidance`, this.session.modelPath);
    }
    const [rows, width] = cond.dims;
    if (cond.dims.length !== 2 || (rows !== 1 && rows !== batch)) {
      throw new RangeError(`timestep_cond must be [1 or ${batch}, width]; got ${formatDims(cond.dims)}`);
    }
    if (rows === batch) return { [TIMESTEP_COND]: cond };
    const data = new Float32Array(batch * width);
    for (let b = 0; b < batch; b++) data.set(cond.data, b * width);
    return { [TIMESTEP_COND]: { data, dims: [batch, width] } };
  }

  private residualFeeds(residuals: UNetResiduals | undefined): Record<string, HostTensor> {
    const names = this.residualInputs;
    if (!residuals) return this.zeroResiduals;
    if (!names) {
      throw new ModelError(
        "this UNet was exported without ControlNet residual inputs ('down_block_additional_residual_N', 'mid_block_additional_residual'), so hint images (control:) cannot steer it; `imgprompt convert` of the model's diffusers folder or single file writes a UNet that has them",
        this.session.modelPath,
      );
    }
    if (residuals.down.length !== names.down.length) {
      throw new ModelError(`the ControlNet gives ${residuals.down.length} down-block residuals but this UNet takes ${names.down.length}: they were made for different base models`, this.session.modelPath);
    }
    const feeds: Record<string, HostTensor> = { [names.mid.name]: residuals.mid };
    names.down.forEach((info, i) => (feeds[info.name] = residuals.down[i]));
    return feeds;
  }
}
