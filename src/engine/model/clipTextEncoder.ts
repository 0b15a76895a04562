// CLIP text encoder component: token ids -> per-token hidden states (the UNet's cross-attention context)
// and, when the export has one, the pooled embedding (`pooler_output`, or `text_embeds` for SDXL's
// projection model). input_ids may be int32 (optimum) or int64 (other exporters); the session says which.
// optimum's SDXL exports also output every layer's hidden state (`hidden_states.0` = the embeddings, ...,
// `hidden_states.N` = the last layer before the final norm); SDXL conditions on `hidden_states.{N-1}`.
import { ModelError } from '../errors';
import { fixedDim, requireInput, requireOutput } from './componentIO';
import type { OnnxSession, OnnxValueInfo } from '../onnx/onnxSession';
import type { FloatTensor } from '../onnx/tensor';

export interface TextEncoderOutput {
  /** [batch, sequenceLength, hiddenSize]. */
  readonly lastHiddenState: FloatTensor;
  /** [batch, hiddenSize] (`pooler_output` or `text_embeds`), when the graph exports one. */
  readonly pooledOutput: FloatTensor | undefined;
  /** The hidden state asked for by `hiddenStateFromEnd`, when it was. */
  readonly hiddenState?: FloatTensor;
}

const HIDDEN_STATE = /^hidden_states\.(\d+)$/;

export class CLIPTextEncoder {
  private readonly idsInfo: OnnxValueInfo;
  private readonly hiddenName: string;
  private readonly pooledName: string | undefined;
  /** `hidden_states.N` output names by N. */
  private readonly hiddenStateNames: string[] = [];

  constructor(readonly session: OnnxSession) {
    this.idsInfo = requireInput(session, 'text encoder', 'input_ids');
    if (this.idsInfo.type !== 'int32' && this.idsInfo.type !== 'int64') {
      throw new ModelError(`input 'input_ids' has type ${this.idsInfo.type}; a text encoder takes int32 or int64 token ids`, session.modelPath);
    }
    this.hiddenName = requireOutput(session, 'text encoder', ['last_hidden_state']).name;
    this.pooledName = ['pooler_output', 'text_embeds'].find((n) => session.output(n));
    for (const output of session.outputs) {
      const m = HIDDEN_STATE.exec(output.name);
      if (m) this.hiddenStateNames[Number(m[1])] = output.name;
    }
  }

  /** How many `hidden_states.N` outputs the graph has (layers + 1), 0 when it exports none. */
  get hiddenStateCount(): number {
    const n = this.hiddenStateNames.length;
    return [...Array(n).keys()].every((i) => this.hiddenStateNames[i]) ? n : 0;
  }

  /** The token sequence length the graph fixes (77 for CLIP), or undefined when it is dynamic. */
  get sequenceLength(): number | undefined {
    return fixedDim(this.idsInfo, 1);
  }

  /** The dtype the graph takes token ids in. */
  get inputIdsType(): 'int32' | 'int64' {
    return this.idsInfo.type as 'int32' | 'int64';
  }

  /** Milliseconds spent inside onnxruntime by this component's session. */
  get runTimeMs(): number {
    return this.session.runTimeMs;
  }

  /**
   * Encodes a batch of equal-length token id sequences (already padded by the tokenizer). With
   * `hiddenStateFromEnd` k (1 = the last layer's), also returns `hidden_states.{count - k}`.
   */
  async encode(inputIds: readonly (readonly number[])[], signal?: AbortSignal, hiddenStateFromEnd?: number): Promise<TextEncoderOutput> {
    const batch = inputIds.length;
    const length = batch ? inputIds[0].length : 0;
    if (batch === 0 || length === 0) throw new RangeError('encode() needs at least one non-empty token sequence');
    if (inputIds.some((ids) => ids.length !== length)) {
      throw new RangeError(`all token sequences must have the same length; got lengths ${inputIds.map((ids) => ids.length).join(', ')}`);
    }
    let stateName: string | undefined;
    if (hiddenStateFromEnd !== undefined) {
      const count = this.hiddenStateCount;
      if (!Number.isInteger(hiddenStateFromEnd) || hiddenStateFromEnd < 1 || hiddenStateFromEnd > count) {
        throw new ModelError(
          count === 0
            ? 'this text encoder exports no hidden_states.N outputs (export it with output_hidden_states, as optimum does for SDXL)'
            : `hidden state ${hiddenStateFromEnd} from the end does not exist; the graph has ${count} (hidden_states.0 to hidden_states.${count - 1})`,
          this.session.modelPath,
        );
      }
      stateName = this.hiddenStateNames[count - hiddenStateFromEnd];
    }
    const outputs = [this.hiddenName, ...(this.pooledName ? [this.pooledName] : []), ...(stateName ? [stateName] : [])];
    const result = await this.session.run({ input_ids: { data: inputIds.flat(), dims: [batch, length] } }, outputs, signal);
    return {
      lastHiddenState: result[this.hiddenName],
      pooledOutput: this.pooledName ? result[this.pooledName] : undefined,
      ...(stateName ? { hiddenState: result[stateName] } : {}),
    };
  }
}
