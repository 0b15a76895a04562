// UNet component: predicts noise (or v, per the scheduler config) for a latent batch at one timestep,
// conditioned on text hidden states. The timestep's dtype and shape come from the graph: float32 or
// float16 or int64, scalar [] or [batch] or [1], as different exporters write it. Further inputs
// (ControlNet residuals, SDXL text_embeds/time_ids) are passed by name through `extra`.
import { ModelError } from '../errors';
import { requireInput, requireOutput } from './componentIO';
import type { HostTensor, OnnxSession, OnnxValueInfo } from './onnxSession';
import { formatDims, type FloatTensor } from './tensor';

const STANDARD_INPUTS = ['sample', 'timestep', 'encoder_hidden_states'];

export interface UNetInput {
  /** Latents [batch, channels, height, width] (already scaled by the scheduler for the model input). */
  readonly sample: FloatTensor;
  /** One timestep for the whole batch, or one per batch item. Integer graphs get it truncated toward zero. */
  readonly timestep: number | readonly number[];
  /** Text hidden states [batch, sequenceLength, hiddenSize]. */
  readonly encoderHiddenStates: FloatTensor;
  /** Any further graph inputs by name: ControlNet residuals, SDXL `text_embeds` / `time_ids`... */
  readonly extra?: Readonly<Record<string, FloatTensor>>;
}

export class UNet {
  private readonly timestepInfo: OnnxValueInfo;
  private readonly outputName: string;

  constructor(readonly session: OnnxSession) {
    for (const name of STANDARD_INPUTS) requireInput(session, 'UNet', name);
    this.timestepInfo = requireInput(session, 'UNet', 'timestep');
    if (this.timestepInfo.shape.length > 1) {
      throw new ModelError(`input 'timestep' has shape ${formatDims(this.timestepInfo.shape)}; a UNet timestep is a scalar or a [batch] vector`, session.modelPath);
    }
    this.outputName = requireOutput(session, 'UNet', ['out_sample']).name;
  }

  /** Graph inputs beyond sample/timestep/encoder_hidden_states, which `extra` must supply. */
  get extraInputNames(): string[] {
    return this.session.inputs.map((i) => i.name).filter((n) => !STANDARD_INPUTS.includes(n));
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
      timestep: this.timestepFeed(input.timestep, batch),
      encoder_hidden_states: input.encoderHiddenStates,
      ...input.extra,
    };
    const result = await this.session.run(feeds, [this.outputName], signal);
    return result[this.outputName];
  }

  private timestepFeed(timestep: number | readonly number[], batch: number): HostTensor {
    const values = typeof timestep === 'number' ? [timestep] : [...timestep];
    if (values.length !== 1 && values.length !== batch) {
      throw new RangeError(`timestep must be one number or one per batch item (${batch}); got ${values.length}`);
    }
    const allEqual = values.every((v) => v === values[0]);
    const shape = this.timestepInfo.shape;
    if (shape.length === 0 || shape[0] === 1) {
      if (!allEqual) {
        throw new ModelError(
          `this UNet takes one timestep for the whole batch (timestep ${this.timestepSignature}); got different values ${values.join(', ')}`,
          this.session.modelPath,
        );
      }
      return shape.length === 0 ? { data: [values[0]], dims: [] } : { data: [values[0]], dims: [1] };
    }
    return { data: values.length === batch ? values : new Array<number>(batch).fill(values[0]), dims: [batch] };
  }
}
