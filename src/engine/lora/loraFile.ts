// A LoRA file opened for use: its safetensors header validated, its tensors grouped into modules with
// checked shapes and alpha values read. The down/up matrices stay on disk until a patch reads them.
import { InputError } from '../errors';
import { groupLoraKeys, type LoraModuleKeys } from './keyMapping';
import { readSafetensors, type SafetensorsFile } from './safetensors';

export interface LoraModule extends Omit<LoraModuleKeys, 'alpha'> {
  /** Name of the alpha tensor, if any. */
  readonly alphaTensor?: string;
  readonly rank: number;
  /** The `.alpha` value, or the rank when the file has none (scale 1). */
  readonly alpha: number;
  /** Output features (channels). */
  readonly out: number;
  /** Input features × kernel size of the down projection (in × kh × kw for LoCon). */
  readonly inner: number;
  readonly downShape: readonly number[];
  readonly upShape: readonly number[];
}

export interface LoraFile {
  readonly path: string;
  readonly file: SafetensorsFile;
  readonly metadata: Readonly<Record<string, string>>;
  readonly modules: readonly LoraModule[];
  /** Tensor names the engine does not apply (other adapter kinds, incomplete modules). */
  readonly unsupported: readonly string[];
}

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Opens a LoRA .safetensors file. Throws InputError naming the file and the fault. */
export async function loadLora(path: string, signal?: AbortSignal): Promise<LoraFile> {
  const file = await readSafetensors(path, { signal });
  const groups = groupLoraKeys(file.tensors.keys());
  const unsupported = [...groups.unsupported];
  const accepted = groups.modules.filter((m) => {
    if (m.mid === undefined) return true;
    unsupported.push(m.down, m.up, m.mid, ...(m.alpha ? [m.alpha] : []));
    return false;
  });
  const alphaNames = accepted.flatMap((m) => (m.alpha ? [m.alpha] : []));
  for (const name of alphaNames) {
    if (product(file.tensors.get(name)!.shape) !== 1) throw new InputError(`'${name}' should hold one number (the LoRA alpha) but has shape [${file.tensors.get(name)!.shape.join(', ')}]`, path);
  }
  const alphas = await file.readTensors(alphaNames, signal);
  const modules = accepted.map((m): LoraModule => {
    const downShape = file.tensors.get(m.down)!.shape;
    const upShape = file.tensors.get(m.up)!.shape;
    const rank = downShape[0];
    const shapes = `down [${downShape.join(', ')}], up [${upShape.join(', ')}]`;
    const validDown = (downShape.length === 2 || downShape.length === 4) && rank > 0;
    const validUp = (upShape.length === 2 || (upShape.length === 4 && upShape[2] === 1 && upShape[3] === 1)) && upShape[1] === rank;
    if (!validDown || !validUp) throw new InputError(`LoRA module '${m.key}' has inconsistent shapes (${shapes}): expected down [rank, in(, kh, kw)] and up [out, rank(, 1, 1)]`, path);
    let alpha = rank;
    if (m.alpha) {
      alpha = alphas.get(m.alpha)![0];
      if (!Number.isFinite(alpha)) throw new InputError(`'${m.alpha}' is ${alpha}, not a finite LoRA alpha`, path);
    }
    const { alpha: alphaTensor, ...keys } = m;
    return { ...keys, ...(alphaTensor ? { alphaTensor } : {}), rank, alpha, out: upShape[0], inner: product(downShape.slice(1)), downShape, upShape };
  });
  return { path, file, metadata: file.metadata, modules, unsupported };
}
