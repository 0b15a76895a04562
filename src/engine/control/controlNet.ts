// ControlNet component with diffusers' ControlNetModel interface: sample, timestep,
// encoder_hidden_states, controlnet_cond (the hint, RGB in 0..1 at the output size) and optionally
// conditioning_scale → one residual per UNet skip tensor (`down_block_res_sample_0..N-1`) and the mid
// block's (`mid_block_res_sample`). A graph without a conditioning_scale input gets its outputs scaled
// here instead, so exporters that bake the scale out still work. An SDXL ControlNet (diffusers'
// ControlNetModel with addition_embed_type 'text_time') also takes the UNet's added conditioning,
// `text_embeds` and `time_ids`: when the graph declares those inputs they are fed from the prompt's
// conditioning, exactly as the UNet gets them.
import { ModelError } from '../errors';
import { requireInput } from '../model/componentIO';
import type { HostTensor, OnnxSession, OnnxValueInfo } from '../onnx/onnxSession';
import type { FloatTensor } from '../onnx/tensor';
import { residualNames, timestepFeed, type UNetResiduals } from '../model/unet';

export interface ControlNetInput {
  /** The UNet's model input for this step [batch, C, h, w]. */
  readonly sample: FloatTensor;
  readonly timestep: number;
  readonly encoderHiddenStates: FloatTensor;
  /** The hint [batch, 3, H, W], values 0..1, H and W the output size. */
  readonly hint: FloatTensor;
  readonly scale: number;
  /** The UNet's further inputs by name (SDXL: text_embeds, time_ids), batched as the sample; fed where the graph has them. */
  readonly extra?: Readonly<Record<string, FloatTensor>>;
}

/** SDXL's added conditioning, which a ControlNet-XL graph takes beside the UNet's inputs. */
const ADDED_CONDITIONING = ['text_embeds', 'time_ids'] as const;

export class ControlNet {
  private readonly timestepInfo: OnnxValueInfo;
  private readonly scaleInfo: OnnxValueInfo | undefined;
  /** The added-conditioning inputs this graph declares (none for an SD 1.x/2.x ControlNet). */
  readonly addedInputs: readonly string[];
  readonly outputs: { readonly down: readonly OnnxValueInfo[]; readonly mid: OnnxValueInfo };

  constructor(readonly session: OnnxSession) {
    for (const name of ['sample', 'encoder_hidden_states', 'controlnet_cond']) requireInput(session, 'ControlNet', name);
    this.timestepInfo = requireInput(session, 'ControlNet', 'timestep');
    this.scaleInfo = session.input('conditioning_scale');
    this.addedInputs = ADDED_CONDITIONING.filter((name) => session.input(name) !== undefined);
    const outputs = residualNames(session.outputs, session.modelPath, 'ControlNet');
    if (!outputs) {
      throw new ModelError(
        `this graph cannot be used as a ControlNet: it has no 'down_block_res_sample_N' / 'mid_block_res_sample' outputs (its outputs are ${session.outputs.map((o) => `'${o.name}'`).join(', ')})`,
        session.modelPath,
      );
    }
    this.outputs = outputs;
  }

  get runTimeMs(): number {
    return this.session.runTimeMs;
  }

  async predict(input: ControlNetInput, signal?: AbortSignal): Promise<UNetResiduals> {
    const batch = input.sample.dims[0];
    const feeds: Record<string, HostTensor> = {
      sample: input.sample,
      timestep: timestepFeed(this.timestepInfo, input.timestep, batch, this.session.modelPath),
      encoder_hidden_states: input.encoderHiddenStates,
      controlnet_cond: input.hint,
    };
    for (const name of this.addedInputs) {
      const value = input.extra?.[name];
      if (!value) {
        throw new ModelError(`this ControlNet takes '${name}' (SDXL's added conditioning), which the model's prompt conditioning does not supply: an SDXL ControlNet needs an SDXL model`, this.session.modelPath);
      }
      feeds[name] = value;
    }
    if (this.scaleInfo) feeds.conditioning_scale = { data: [input.scale], dims: this.scaleInfo.shape.length === 0 ? [] : [1] };
    const names = [...this.outputs.down.map((o) => o.name), this.outputs.mid.name];
    const result = await this.session.run(feeds, names, signal);
    const scaled = (t: FloatTensor): FloatTensor => {
      if (this.scaleInfo || input.scale === 1) return t;
      const data = new Float32Array(t.data.length);
      for (let i = 0; i < data.length; i++) data[i] = t.data[i] * input.scale;
      return { data, dims: t.dims };
    };
    return { down: this.outputs.down.map((o) => scaled(result[o.name])), mid: scaled(result[this.outputs.mid.name]) };
  }
}

/** Adds `b` into `a` element-wise (residuals of several ControlNets are summed, as diffusers' MultiControlNet does). */
export function addResiduals(a: UNetResiduals, b: UNetResiduals): UNetResiduals {
  const add = (x: FloatTensor, y: FloatTensor): FloatTensor => {
    if (x.data.length !== y.data.length) throw new RangeError('ControlNet residuals of different shapes cannot be summed');
    const data = new Float32Array(x.data.length);
    for (let i = 0; i < data.length; i++) data[i] = x.data[i] + y.data[i];
    return { data, dims: x.dims };
  };
  if (a.down.length !== b.down.length) throw new RangeError('ControlNets with different numbers of residuals cannot be combined');
  return { down: a.down.map((d, i) => add(d, b.down[i])), mid: add(a.mid, b.mid) };
}

/** Whether a control applies at step `index` of `count`, with diffusers' rule for control_guidance_start/end. */
export function controlActive(index: number, count: number, start: number, end: number): boolean {
  return !(index / count < start || (index + 1) / count > end);
}
