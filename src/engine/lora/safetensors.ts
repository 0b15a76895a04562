// The engine's safetensors reader (format: huggingface/safetensors README, "Format"): an 8-byte
// little-endian header length, a UTF-8 JSON header {name: {dtype, shape, data_offsets}, __metadata__},
// then the data section. The header is validated in full against hostile files (bounded lengths, tensors
// inside the data section, byte lengths matching shapes, no overlaps); tensor data is read lazily, one
// range at a time, so memory stays bounded by what the caller uses.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { InputError, throwIfAborted } from '../errors';
import { endianness } from 'node:os';
import { float16Table } from '../onnx/float16';

/** Default bound on the JSON header; real LoRA headers are at most a few MB. */
export const MAX_SAFETENSORS_HEADER_BYTES = 100 * 1024 * 1024;

/** Element sizes of the dtypes the format defines. */
const DTYPE_SIZES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

/** The dtypes whose values the engine decodes. */
export const DECODED_DTYPES: readonly string[] = ['F32', 'F16', 'BF16'];

export type SafetensorsFault =
  | 'missing'
  | 'unreadable'
  | 'too-short'
  | 'header-length'
  | 'header-limit'
  | 'json'
  | 'entry'
  | 'dtype'
  | 'shape'
  | 'offsets'
  | 'overlap'
  | 'changed';

/** A malformed or unreadable safetensors file; `reason` is the message without the path, `fault` a stable code. */
export class SafetensorsError extends InputError {
  constructor(
    readonly reason: string,
    path: string,
    readonly fault: SafetensorsFault,
  ) {
    super(reason, path);
  }
}

export interface SafetensorsTensorInfo {
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Byte range [begin, end) inside the data section. */
  readonly dataOffsets: readonly [number, number];
}

export interface ReadSafetensorsOptions {
  readonly signal?: AbortSignal;
  readonly maxHeaderBytes?: number;
  /** Accept every dtype the format defines (for describing a file); default: only F32, F16, BF16. */
  readonly anyDtype?: boolean;
}

/** Where a tensor's bytes are in the file, as stored (no decoding). */
export interface SafetensorsStoredRange {
  readonly path: string;
  readonly dtype: string;
  /** Absolute file offset of the first byte. */
  readonly position: number;
  readonly length: number;
}

/** A validated safetensors header with lazy access to tensor data. */
export class SafetensorsFile {
  /** The handle every read shares while `keepOpen` holds one (else each read opens the file). */
  private held: Promise<FileHandle> | undefined;

  constructor(
    readonly path: string,
    readonly fileSize: number,
    /** File offset of the data section (8 + header length). */
    readonly dataStart: number,
    readonly metadata: Readonly<Record<string, string>>,
    readonly tensors: ReadonlyMap<string, SafetensorsTensorInfo>,
  ) {}

  /**
   * Keeps one handle open for the reads that follow (a converter reads a thousand tensors; opening the
   * file for each costs more than small reads do) until the returned function closes it.
   */
  keepOpen(): () => Promise<void> {
    const held = (this.held ??= openFile(this.path));
    return async () => {
      if (this.held === held) this.held = undefined;
      await (await held.catch(() => undefined))?.close();
    };
  }

  /** A tensor's byte range in the file as stored (copied on as it is where no conversion is needed). */
  storedRange(name: string): SafetensorsStoredRange {
    const info = this.tensors.get(name);
    if (!info) throw new InputError(`the file has no tensor '${name}'`, this.path);
    const [begin, end] = info.dataOffsets;
    return { path: this.path, dtype: info.dtype, position: this.dataStart + begin, length: end - begin };
  }

  /** Runs `read` with the held handle, or with one opened (and closed) for it. */
  private async withHandle<T>(read: (handle: FileHandle) => Promise<T>): Promise<T> {
    if (this.held) return read(await this.held);
    const handle = await openFile(this.path);
    try {
      return await read(handle);
    } finally {
      await handle.close();
    }
  }

  /** One tensor's values as float32. */
  async tensor(name: string, signal?: AbortSignal): Promise<Float32Array> {
    return (await this.readTensors([name], signal)).get(name)!;
  }

  /**
   * A float16 tensor's stored bits, undecoded (float16 weights can be written on as float16); undefined
   * for any other dtype.
   */
  async float16Bits(name: string, signal?: AbortSignal, into?: Uint16Array): Promise<Uint16Array | undefined> {
    const info = this.tensors.get(name);
    if (!info) throw new InputError(`the file has no tensor '${name}'`, this.path);
    if (info.dtype !== 'F16') return undefined;
    throwIfAborted(signal);
    const [begin, end] = info.dataOffsets;
    // A fresh, aligned buffer (the little-endian host order the decoders already assume), not zero-filled:
    // the read fills every byte or fails.
    // `into`, where given and large enough: a caller that consumes the bits before its next read reuses one
    // buffer (no fresh memory to fault in and collect per tensor).
    const count = (end - begin) / 2;
    const bits = into && into.length >= count ? into.subarray(0, count) : new Uint16Array(Buffer.allocUnsafeSlow(end - begin).buffer, 0, count);
    const bytes = new Uint8Array(bits.buffer, bits.byteOffset, end - begin);
    await this.withHandle(async (handle) => {
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, this.dataStart + begin);
      if (bytesRead !== bytes.length) {
        throw new SafetensorsError(`tensor '${name}' could not be read (${bytesRead} of ${bytes.length} bytes): the file was truncated or changed since it was opened`, this.path, 'changed');
      }
    });
    return bits;
  }

  /** Several tensors' values as float32, read through one file handle. */
  async readTensors(names: readonly string[], signal?: AbortSignal): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const name of names) {
      const info = this.tensors.get(name);
      if (!info) throw new InputError(`the file has no tensor '${name}'`, this.path);
      if (!DECODED_DTYPES.includes(info.dtype)) throw new SafetensorsError(`tensor '${name}' has dtype ${info.dtype}; only F32, F16 and BF16 are supported`, this.path, 'dtype');
    }
    throwIfAborted(signal);
    await this.withHandle(async (handle) => {
      for (const name of names) {
        throwIfAborted(signal);
        const info = this.tensors.get(name)!;
        const [begin, end] = info.dataOffsets;
        // Not zero-filled (every byte is read into it, or the read fails) and not pooled: its own
        // ArrayBuffer at offset 0, so float32 data is used in place, without a copy.
        const bytes = Buffer.allocUnsafeSlow(end - begin);
        const { bytesRead } = await handle.read(bytes, 0, bytes.length, this.dataStart + begin);
        if (bytesRead !== bytes.length) {
          throw new SafetensorsError(`tensor '${name}' could not be read (${bytesRead} of ${bytes.length} bytes): the file was truncated or changed since it was opened`, this.path, 'changed');
        }
        const inPlace = info.dtype === 'F32' && LITTLE_ENDIAN && bytes.byteOffset === 0 && bytes.length % 4 === 0;
        out.set(name, inPlace ? new Float32Array(bytes.buffer, 0, bytes.length / 4) : decodeTensorBytes(bytes, info.dtype));
      }
    });
    return out;
  }
}

const LITTLE_ENDIAN = endianness() === 'LE';

/** Decodes little-endian F32 / F16 / BF16 bytes to float32 (typed-array views where the bytes are aligned). */
export function decodeTensorBytes(bytes: Uint8Array, dtype: string): Float32Array {
  const size = dtype === 'F32' ? 4 : 2;
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') throw new Error(`internal error: decodeTensorBytes called with dtype ${dtype}`);
  const count = Math.floor(bytes.length / size);
  const aligned = LITTLE_ENDIAN && bytes.byteOffset % size === 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Every element is written below, so the output need not be zero-filled first.
  const out = new Float32Array(Buffer.allocUnsafeSlow(count * 4).buffer, 0, count);
  if (dtype === 'F32') {
    if (aligned) out.set(new Float32Array(bytes.buffer, bytes.byteOffset, count));
    else for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  const halves = aligned ? new Uint16Array(bytes.buffer, bytes.byteOffset, count) : Uint16Array.from({ length: count }, (_v, i) => view.getUint16(i * 2, true));
  if (dtype === 'F16') {
    const table = float16Table();
    for (let i = 0; i < count; i++) out[i] = table[halves[i]];
    return out;
  }
  // bfloat16 is the top half of a float32.
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < count; i++) bits[i] = halves[i] << 16;
  return out;
}

async function openFile(path: string) {
  try {
    return await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SafetensorsError('the file does not exist', path, 'missing');
    throw new SafetensorsError(`the file cannot be opened (${code ?? String(error)})`, path, 'unreadable');
  }
}

/**
 * Reads and validates the header of a safetensors file (no tensor data). Throws SafetensorsError (an
 * InputError) naming the file and the fault for anything malformed.
 */
export async function readSafetensors(path: string, options: ReadSafetensorsOptions = {}): Promise<SafetensorsFile> {
  throwIfAborted(options.signal);
  const maxHeaderBytes = options.maxHeaderBytes ?? MAX_SAFETENSORS_HEADER_BYTES;
  let isFile = true;
  try {
    isFile = (await stat(path)).isFile();
  } catch {
    // openFile reports a missing or unreadable path.
  }
  if (!isFile) throw new SafetensorsError('expected a .safetensors file, found a folder or device', path, 'unreadable');
  const handle = await openFile(path);
  let json: Buffer;
  let size: number;
  try {
    size = (await handle.stat()).size;
    if (size < 8) throw new SafetensorsError(`the file has ${size} bytes, fewer than the 8-byte header length of the safetensors format`, path, 'too-short');
    const prefix = Buffer.alloc(8);
    await handle.read(prefix, 0, 8, 0);
    const length = prefix.readBigUInt64LE(0);
    if (length > BigInt(size - 8)) {
      throw new SafetensorsError(`the header length ${length} is larger than the file (${size} bytes): not a safetensors file, or truncated`, path, 'header-length');
    }
    if (length > BigInt(maxHeaderBytes)) throw new SafetensorsError(`the header is ${length} bytes, more than the limit of ${maxHeaderBytes}`, path, 'header-limit');
    json = Buffer.alloc(Number(length));
    const { bytesRead } = await handle.read(json, 0, json.length, 8);
    if (bytesRead !== json.length) throw new SafetensorsError('the file was truncated while its header was read', path, 'changed');
  } finally {
    await handle.close();
  }
  throwIfAborted(options.signal);
  const { metadata, tensors } = parseSafetensorsHeaderJson(json, size - 8 - json.length, path, options.anyDtype ?? false);
  return new SafetensorsFile(path, size, 8 + json.length, metadata, tensors);
}

/** Validates a header's bytes against a data section of `dataLength` bytes. */
export function parseSafetensorsHeaderJson(
  json: Uint8Array,
  dataLength: number,
  path: string,
  anyDtype = false,
): { metadata: Record<string, string>; tensors: Map<string, SafetensorsTensorInfo> } {
  const fail = (reason: string, fault: SafetensorsFault): never => {
    throw new SafetensorsError(reason, path, fault);
  };
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (error) {
    return fail(`the header is not valid JSON (${error instanceof Error ? error.message : String(error)})`, 'json');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('the header is not a JSON object', 'json');
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsTensorInfo>();
  for (const [name, entry] of Object.entries(value as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('__metadata__ is not a JSON object of strings', 'entry');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        // The format says string → string; other values are kept as JSON text rather than refused.
        Object.defineProperty(metadata, k, { value: typeof v === 'string' ? v : JSON.stringify(v), enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail(`tensor '${name}' is not a JSON object`, 'entry');
    const { dtype, shape, data_offsets: offsets } = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string') fail(`tensor '${name}' has no dtype`, 'entry');
    const size = DTYPE_SIZES[dtype as string];
    if (size === undefined) fail(`tensor '${name}' has dtype '${String(dtype).slice(0, 40)}', which is not a safetensors dtype`, 'dtype');
    if (!anyDtype && !DECODED_DTYPES.includes(dtype as string)) fail(`tensor '${name}' has dtype ${dtype as string}; only F32, F16 and BF16 are supported`, 'dtype');
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor '${name}' has no valid shape (a list of non-negative integers)`, 'shape');
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      fail(`tensor '${name}' has no valid data_offsets (two non-negative integers [begin, end])`, 'offsets');
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLength) fail(`tensor '${name}' has data_offsets [${begin}, ${end}] outside the data section (${dataLength} bytes): the file is truncated or corrupt`, 'offsets');
    // Bounded: the product is checked against the data section length at every step.
    let bytes = size;
    for (const d of shape as number[]) {
      bytes *= d;
      if (bytes > dataLength) break;
    }
    if (bytes !== end - begin) {
      fail(`tensor '${name}' holds ${end - begin} bytes but its shape [${(shape as number[]).join(', ')}] of ${dtype as string} needs ${bytes > dataLength ? `more than ${dataLength}` : bytes}`, 'shape');
    }
    tensors.set(name, { dtype: dtype as string, shape: shape as number[], dataOffsets: [begin, end] });
  }
  const ranges = [...tensors].filter(([, t]) => t.dataOffsets[1] > t.dataOffsets[0]).sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][1].dataOffsets[0] < ranges[i - 1][1].dataOffsets[1]) {
      fail(`tensors '${ranges[i - 1][0]}' and '${ranges[i][0]}' overlap in the data section: the file is corrupt`, 'overlap');
    }
  }
  return { metadata, tensors };
}
