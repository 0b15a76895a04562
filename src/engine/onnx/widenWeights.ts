// Float16 weights widened before onnxruntime sees the graph, for models too large to let it do so.
//
// A converted float16 checkpoint keeps its weights float16 behind a Cast to float32 (and linear weights
// [out, in] behind a Transpose, convert/nnOps.ts); onnxruntime folds those nodes when it optimizes the
// graph. Folding holds each widened tensor twice (the folded TensorProto and the session's copy) on
// top of the float16 originals: for SDXL's UNet (5.1 GB float16, 10.3 GB float32) the first load peaked
// at 19 GB of anonymous memory, and with the two text encoders loaded a 1024² render was killed on a
// 24 GB machine. Here every such chain is folded in advance, one tensor at a time, into an overlay file
// of float32 weights (weightOverlay.ts) that onnxruntime maps instead of copying; the Cast / Transpose
// nodes go and their outputs become initializers. Widening float16 and transposing are exact, so the
// session computes what the folded graph computes, bit for bit (tested). Only models whose widened
// weights reach WIDEN_MIN_BYTES are widened: below it folding in memory is cheaper than writing a file.
import { ModelError } from '../errors';
import { float16BytesToFloat32, transposeMatrix } from './float16';
import { readInitializerBytes, type OnnxModelFiles } from './onnxModelFiles';
import { OnnxProtoError, type OnnxInitializer } from './onnxProto';
import { parseEditableModel, type EditableNode } from './onnxWriter';
import { WeightOverlay } from './weightOverlay';

const FLOAT = 1;
const FLOAT16 = 10;

/** Widened float32 bytes from which a model's float16 weights are widened in advance (4 GiB: SDXL's UNet; not its text encoders, nor SD 1.x/2.x). */
export const WIDEN_MIN_BYTES = 4 * 1024 ** 3;

export interface WidenOptions {
  /** Default WIDEN_MIN_BYTES; tests lower it. */
  readonly minBytes?: number;
  /** Folder for the overlay file (the optimized-graph cache's, so it is not written to a RAM-backed /tmp); default the system's temporary folder. */
  readonly dir?: string;
}

export interface WidenResult {
  readonly files: OnnxModelFiles;
  /** Tensors widened, and their float32 bytes. */
  readonly tensors: number;
  readonly bytes: number;
  /** Removes the overlay file (WeightOverlay.discard: a session made from `files` keeps its mapping). */
  dispose(): void;
}

interface Target {
  readonly init: OnnxInitializer;
  /** The nodes folded (Cast, then Transpose if any) and the tensor name the widened weight takes. */
  readonly nodes: readonly EditableNode[];
  readonly name: string;
  readonly transposed: boolean;
}

/**
 * `files` with every float16 initializer that the graph Casts to float32 (and perhaps transposes [1, 0])
 * stored as float32 in an overlay file, or undefined when there is nothing to widen, the widened bytes
 * stay under the threshold, or some external weights are held in memory (a patch changed them).
 */
export async function widenFloat16Weights(files: OnnxModelFiles, options: WidenOptions = {}): Promise<WidenResult | undefined> {
  if (files.externalData.length === 0 || files.externalData.some((f) => f.data !== undefined)) return undefined;
  let model;
  try {
    model = parseEditableModel(files.modelBytes);
  } catch (error) {
    if (!(error instanceof OnnxProtoError)) throw error;
    throw new ModelError(`the model could not be read to widen its float16 weights: ${error.message} at byte ${error.offset}`, files.modelPath);
  }
  const inits = new Map(files.info.initializers.map((i) => [i.name, i]));
  const readers = new Map<string, EditableNode[]>();
  for (const node of model.nodes) {
    for (const name of node.inputs) {
      const list = readers.get(name);
      if (list) list.push(node);
      else readers.set(name, [node]);
    }
  }
  const visible = new Set<string>([...model.graphOutputs, ...model.subgraphReads]);
  const targets: Target[] = [];
  let bytes = 0;
  for (const cast of model.nodes) {
    if (cast.opType !== 'Cast' || cast.domain !== '' || cast.inputs.length !== 1 || cast.attributes.get('to')?.i !== FLOAT) continue;
    const init = inits.get(cast.inputs[0]);
    if (!init || init.dataType !== FLOAT16 || init.data.kind !== 'external' || visible.has(cast.outputs[0]) || visible.has(init.name)) continue;
    const users = readers.get(cast.outputs[0]) ?? [];
    const t = users.length === 1 ? users[0] : undefined;
    const perm = t?.attributes.get('perm')?.ints;
    const transpose =
      t && t.opType === 'Transpose' && t.domain === '' && init.dims.length === 2 && (perm === undefined || (perm.length === 2 && perm[0] === 1 && perm[1] === 0)) && !visible.has(t.outputs[0])
        ? t
        : undefined;
    targets.push({ init, nodes: transpose ? [cast, transpose] : [cast], name: (transpose ?? cast).outputs[0], transposed: transpose !== undefined });
    bytes += init.dims.reduce((n, d) => n * d, 1) * 4;
  }
  if (targets.length === 0 || bytes < (options.minBytes ?? WIDEN_MIN_BYTES)) return undefined;

  const overlay = new WeightOverlay(options.dir);
  try {
    for (const { init, name, transposed } of targets) {
      const values = float16BytesToFloat32((await readInitializerBytes(files, init))!);
      const [rows, cols] = init.dims;
      overlay.append(name, FLOAT, transposed ? [cols, rows] : init.dims, new Uint8Array((transposed ? transposeMatrix(values, rows, cols) : values).buffer));
    }
  } catch (error) {
    overlay.discard();
    throw error;
  }
  const dropped = new Set(targets.flatMap((t) => t.nodes.map((n) => n.index)));
  const nodes = model.nodes.filter((n) => !dropped.has(n.index));
  const stillRead = new Set<string>([...visible, ...nodes.flatMap((n) => n.inputs)]);
  const removedInitializers = new Set(targets.map((t) => t.init.name).filter((name) => !stillRead.has(name)));
  const removedTensors = new Set(targets.flatMap((t) => t.nodes.flatMap((n) => n.outputs)));
  const widened = overlay.apply(files, model, { nodes, removedTensors, removedInitializers });
  return { files: widened, tensors: targets.length, bytes, dispose: () => overlay.discard() };
}
