// Where a converter's weights come from, by their diffusers names (`conv_in.weight`,
// `down_blocks.0.attentions.0.proj_in.weight`, `text_model.encoder.layers.0.mlp.fc1.weight`): a
// diffusers component file read as it is, or a single-file LDM checkpoint seen through a renaming (and
// reshaping) view. The graph builders read only this interface, so every layout feeds the same builder.
// Values are float32 (F16 and BF16 are widened when read).
import { InputError } from '../../errors';
import type { SafetensorsFile, SafetensorsStoredRange } from '../../lora/safetensors';

/** A tensor's bytes in a file, as stored: its safetensors dtype and the byte range. */
export type StoredRange = SafetensorsStoredRange;

export interface WeightSource {
  /** Where the weights are, for errors. */
  readonly origin: string;
  has(name: string): boolean;
  /** The tensor's shape as the builder expects it (after any reshape the view applies). */
  shape(name: string): readonly number[];
  get(name: string, signal?: AbortSignal): Promise<Float32Array>;
  /**
   * The tensor's float16 bits where it is stored as float16 (undefined otherwise, or where the source
   * cannot tell); read into `into` where that is large enough (the caller then owns the bits only until
   * it reads into `into` again).
   */
  getFloat16?(name: string, signal?: AbortSignal, into?: Uint16Array): Promise<Uint16Array | undefined>;
  /**
   * Where the tensor's bytes are in a file, when the source reads them straight from one (a converter
   * copies a tensor it needs exactly as stored without reading it into memory); undefined otherwise.
   */
  storedRange?(name: string): StoredRange | undefined;
  /** Every name the source offers. */
  names(): string[];
}

/** A missing or misshapen weight: names the tensor, the source and what was expected. */
export function weightError(source: WeightSource, name: string, problem: string): InputError {
  return new InputError(`weight '${name}' ${problem}`, source.origin);
}

/** The tensors of `file` whose names start with `prefix`, by the rest of their names. */
export function safetensorsWeights(file: SafetensorsFile, prefix = ''): WeightSource {
  const source: WeightSource = {
    origin: file.path,
    has: (name) => file.tensors.has(prefix + name),
    shape(name) {
      const info = file.tensors.get(prefix + name);
      if (!info) throw weightError(source, name, 'is missing');
      return info.shape;
    },
    get(name, signal) {
      if (!file.tensors.has(prefix + name)) throw weightError(source, name, 'is missing');
      return file.tensor(prefix + name, signal);
    },
    getFloat16(name, signal, into) {
      if (!file.tensors.has(prefix + name)) throw weightError(source, name, 'is missing');
      return file.float16Bits(prefix + name, signal, into);
    },
    storedRange(name) {
      if (!file.tensors.has(prefix + name)) throw weightError(source, name, 'is missing');
      return file.storedRange(prefix + name);
    },
    names: () => [...file.tensors.keys()].filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length)),
  };
  return source;
}

/**
 * A view of `source` under other names: `rename` maps each name the builder asks for to the name in
 * `source` (undefined: not there), and `reshape` may give a tensor another shape with the same element
 * count (LDM stores some linear layers as 1×1 convolutions).
 */
export function renamedWeights(
  source: WeightSource,
  rename: (name: string) => string | undefined,
  exposed: readonly string[],
  reshape: (name: string, shape: readonly number[]) => readonly number[] = (_n, s) => s,
): WeightSource {
  const view: WeightSource = {
    origin: source.origin,
    has: (name) => {
      const from = rename(name);
      return from !== undefined && source.has(from);
    },
    shape(name) {
      const from = rename(name);
      if (from === undefined || !source.has(from)) throw weightError(view, name, 'is missing');
      return reshape(name, source.shape(from));
    },
    get(name, signal) {
      const from = rename(name);
      if (from === undefined || !source.has(from)) throw weightError(view, name, 'is missing');
      return source.get(from, signal);
    },
    async getFloat16(name, signal, into) {
      const from = rename(name);
      if (from === undefined || !source.has(from)) throw weightError(view, name, 'is missing');
      return source.getFloat16?.(from, signal, into);
    },
    storedRange(name) {
      const from = rename(name);
      if (from === undefined || !source.has(from)) throw weightError(view, name, 'is missing');
      return source.storedRange?.(from);
    },
    names: () => exposed.filter((n) => view.has(n)),
  };
  return view;
}

function checkShape(source: WeightSource, name: string, expected: readonly number[]): void {
  const shape = source.shape(name);
  const count = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  if (count(shape) !== count(expected) || (shape.length === expected.length && shape.some((d, i) => d !== expected[i]))) {
    throw weightError(source, name, `has shape [${shape.join(', ')}], expected [${expected.join(', ')}]`);
  }
}

/** A weight's values after checking its shape. */
export async function checkedWeight(source: WeightSource, name: string, expected: readonly number[], signal?: AbortSignal): Promise<Float32Array> {
  checkShape(source, name, expected);
  return source.get(name, signal);
}

/** A weight after checking its shape: its float16 bits where the source stores it so, else float32 values. */
export async function checkedWeightAsStored(source: WeightSource, name: string, expected: readonly number[], signal?: AbortSignal, into?: Uint16Array): Promise<Float32Array | Uint16Array> {
  checkShape(source, name, expected);
  return (await source.getFloat16?.(name, signal, into)) ?? source.get(name, signal);
}

/**
 * A weight after checking its shape, as a file range where the source stores it as float16 and can say
 * where (copied on as it is); else undefined, and the caller reads it.
 */
export function checkedFloat16Range(source: WeightSource, name: string, expected: readonly number[]): StoredRange | undefined {
  checkShape(source, name, expected);
  const range = source.storedRange?.(name);
  return range?.dtype === 'F16' ? range : undefined;
}

/**
 * `source`, with each read first waiting until `writer` has at most `maxPendingBytes` still to write:
 * a write-behind external-data writer then overlaps the reading of one tensor with the writing of the
 * ones before, and the tensors queued for writing stay bounded.
 */
export function pacedWeights(source: WeightSource, writer: { drain(maxPendingBytes: number): Promise<void> }, maxPendingBytes: number): WeightSource {
  return {
    origin: source.origin,
    has: (name) => source.has(name),
    shape: (name) => source.shape(name),
    names: () => source.names(),
    async get(name, signal) {
      await writer.drain(maxPendingBytes);
      return source.get(name, signal);
    },
    ...(source.storedRange ? { storedRange: (name: string) => source.storedRange?.(name) } : {}),
    ...(source.getFloat16
      ? {
          async getFloat16(name: string, signal?: AbortSignal, into?: Uint16Array) {
            await writer.drain(maxPendingBytes);
            return source.getFloat16?.(name, signal, into);
          },
        }
      : {}),
  };
}
