// ControlNet component with diffusers' ControlNetModel interface: sample, timestep,
// encoder_hidden_states, controlnet_cond (the hint, RGB in 0..1 at the output size) and optionally
// conditioning_scale → one residual per UNet skip tensor (`down_block_res_sample_0..N-1`) and the mid
// block's (`mid_block_res_sample`). A graph without a conditioning_scale input gets its outputs scaled
// here instead, so exporters that bake the scale out still work.
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
}

export class ControlNet {
  private readonly timestepInfo: OnnxValueInfo;
  private readonly scaleInfo: OnnxValueInfo | undefined;
  readonly outputs: { readonly down: readonly OnnxValueInfo[]; readonly mid: OnnxValueInfo };

  constructor(readonly session: OnnxSession) {
    for (const name of ['sample', 'encoder_hidden_states', 'controlnet_cond']) requireInput(session, 'ControlNet', name);
    this.timestepInfo = requireInput(session, 'ControlNet', 'timestep');
    this.scaleInfo = session.input('conditioning_scale');
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
