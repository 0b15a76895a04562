// Writes ONNX models from scratch: a small builder over the repository's protobuf writer, for graphs the
// engine makes itself (checkpoint conversion). Weights go to an external-data file through
// ExternalDataWriter (ONNX's `location`/`offset`/`length` convention, so onnxruntime reads them from disk
// and no protobuf comes near its 2 GiB limit); small constants are stored inline.
//
// Field numbers are ONNX's (onnx/onnx.proto): ModelProto ir_version 1, opset_import 8, producer_name 2,
// graph 7; GraphProto node 1, name 2, initializer 5, input 11, output 12; NodeProto input 1, output 2,
// name 3, op_type 4, attribute 5, domain 7; AttributeProto name 1, f 2, i 3, s 4, floats 7, ints 8,
// type 20; TensorProto dims 1, data_type 2, name 8, raw_data 9, external_data 13, data_location 14;
// ValueInfoProto name 1, type 2; TypeProto tensor_type 1; Tensor elem_type 1, shape 2; Dimension
// dim_value 1, dim_param 2; OperatorSetIdProto domain 1, version 2.
import { closeSync, openSync, readSync } from 'node:fs';
import type { ExternalDataWriter, FileRange } from './externalDataWriter';
import { ProtoWriter } from './protobuf';

export { ExternalDataWriter } from './externalDataWriter';

/** TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT32 = 6;
export const ONNX_FLOAT16 = 10;
export const ONNX_INT64 = 7;

const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;
/** ONNX IR version 8 goes with opset 17 (onnx 1.12+). */
const IR_VERSION = 8;

export type AttributeValue = number | readonly number[] | string | { readonly float: number } | { readonly floats: readonly number[] };
export type Dim = number | string;

interface Node {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly domain: string;
}

interface ValueInfo {
  readonly name: string;
  readonly elemType: number;
  readonly dims: readonly Dim[];
}

type Initializer =
  | { readonly name: string; readonly dataType: number; readonly dims: readonly number[]; readonly raw: Uint8Array }
  | { readonly name: string; readonly dataType: number; readonly dims: readonly number[]; readonly location: string; readonly offset: number; readonly length: number };

function bytesOf(values: Float32Array | BigInt64Array | Int32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly initializers: Initializer[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(
    readonly name: string,
    /** Where large weights go; undefined stores everything inline (small graphs, tests). */
    private readonly external?: ExternalDataWriter,
  ) {}

  /**
   * Resolves once the external-data writes of `values`' buffer are done (at once without a write-behind
   * writer): a buffer reused for the next weight must wait for this.
   */
  released(values: ArrayBufferView): Promise<void> {
    return this.external?.whenWritten(values.buffer) ?? Promise.resolve();
  }

  /** A fresh value name with a readable prefix. */
  fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    this.names.add(name);
    return name;
  }

  input(name: string, elemType: number, dims: readonly Dim[]): string {
    this.names.add(name);
    this.inputs.push({ name, elemType, dims });
    return name;
  }

  output(name: string, elemType: number, dims: readonly Dim[]): void {
    this.outputs.push({ name, elemType, dims });
  }

  /** A float32 weight: to the external-data file when there is one and it is not tiny, else inline. */
  weight(name: string, values: Float32Array, dims: readonly number[]): string {
    const bytes = bytesOf(values);
    this.names.add(name);
    if (this.external && bytes.length >= 1024) {
      const { offset, length } = this.external.append(bytes);
      this.initializers.push({ name, dataType: ONNX_FLOAT, dims, location: this.external.location, offset, length });
    } else {
      this.initializers.push({ name, dataType: ONNX_FLOAT, dims, raw: bytes.slice() });
    }
    return name;
  }

  /**
   * A float16 weight kept as float16 (ONNX_FLOAT16, external like any weight) under `name`, and a Cast of
   * it to float32, whose output is returned: half the bytes on disk; onnxruntime folds the Cast when it
   * loads the graph, and the engine's weight lookups follow a Cast back to its initializer.
   */
  weightFloat16(name: string, bits: Uint16Array, dims: readonly number[]): string {
    const bytes = new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength);
    this.names.add(name);
    if (this.external && bytes.length >= 1024) {
      const { offset, length } = this.external.append(bytes);
      this.initializers.push({ name, dataType: ONNX_FLOAT16, dims, location: this.external.location, offset, length });
    } else {
      this.initializers.push({ name, dataType: ONNX_FLOAT16, dims, raw: bytes.slice() });
    }
    return this.node('Cast', [name], { to: ONNX_FLOAT });
  }

  /**
   * As weightFloat16, for float16 bits stored in another file exactly as the initializer needs them (a
   * checkpoint's conv or linear weight): the external-data writer copies the range on, never holding it
   * as an array, or records it where it is, in a hard link to that file (ExternalDataWriter linkSources).
   */
  weightFloat16Range(name: string, range: FileRange, dims: readonly number[]): string {
    if (range.length !== dims.reduce((n, d) => n * d, 2)) throw new Error(`internal: ${range.length} bytes for float16 '${name}' of shape [${dims.join(', ')}]`);
    if (!this.external || range.length < 1024) return this.weightFloat16(name, readRange(range), dims);
    this.names.add(name);
    const { location, offset, length } = this.external.appendRange(range);
    this.initializers.push({ name, dataType: ONNX_FLOAT16, dims, location, offset, length });
    return this.node('Cast', [name], { to: ONNX_FLOAT });
  }

  /** A small inline constant (shapes, axes, scalars). */
  constant(values: Float32Array | BigInt64Array | Int32Array, dims: readonly number[], prefix = 'const'): string {
    const name = this.fresh(prefix);
    const dataType = values instanceof Float32Array ? ONNX_FLOAT : values instanceof BigInt64Array ? ONNX_INT64 : ONNX_INT32;
    this.initializers.push({ name, dataType, dims, raw: bytesOf(values).slice() });
    return name;
  }

  /** An int64 vector constant, e.g. a Reshape target or Unsqueeze axes. */
  ints(values: readonly number[]): string {
    return this.constant(BigInt64Array.from(values.map((v) => BigInt(v))), [values.length], 'ints');
  }

  /** A float scalar constant. */
  scalar(value: number): string {
    return this.constant(Float32Array.of(value), [], 'scalar');
  }

  /** Adds a node; returns its single output (or the outputs, when `outputs` > 1). */
  node(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, AttributeValue>> = {}, domain = ''): string {
    const [out] = this.nodeN(opType, inputs, 1, attributes, domain);
    return out;
  }

  nodeN(opType: string, inputs: readonly string[], outputs: number, attributes: Readonly<Record<string, AttributeValue>> = {}, domain = ''): string[] {
    const names = Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({ opType, inputs, outputs: names, attributes, domain });
    return names;
  }

  /** Renames a value to a graph output name by an Identity node. */
  alias(value: string, name: string): string {
    this.names.add(name);
    this.nodes.push({ opType: 'Identity', inputs: [value], outputs: [name], attributes: {}, domain: '' });
    return name;
  }

  /** The serialized ModelProto. */
  build(opsets: readonly { domain: string; version: number }[] = [{ domain: '', version: 17 }]): Uint8Array {
    const model = new ProtoWriter();
    model.int(1, IR_VERSION);
    model.string(2, 'imgprompt');
    model.message(7, (g) => {
      for (const n of this.nodes) g.message(1, (w) => writeNode(w, n));
      g.string(2, this.name);
      for (const t of this.initializers) g.message(5, (w) => writeTensor(w, t));
      for (const v of this.inputs) g.message(11, (w) => writeValueInfo(w, v));
      for (const v of this.outputs) g.message(12, (w) => writeValueInfo(w, v));
    });
    for (const o of opsets) model.message(8, (w) => w.string(1, o.domain).int(2, o.version));
    return model.finish();
  }
}

/** A range's bytes as float16 bits (inline weights: small, or graphs without external data). */
function readRange(range: FileRange): Uint16Array {
  const bits = new Uint16Array(range.length / 2);
  const bytes = new Uint8Array(bits.buffer);
  const fd = openSync(range.path, 'r');
  try {
    for (let done = 0; done < bytes.length; ) {
      const n = readSync(fd, bytes, done, bytes.length - done, range.position + done);
      if (n === 0) throw new Error(`${range.path} ended before the tensor at byte ${range.position} did: the file was truncated or changed while it was converted`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return bits;
}

function writeNode(w: ProtoWriter, n: Node): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.outputs[0]);
  w.string(4, n.opType);
  for (const [name, value] of Object.entries(n.attributes)) {
    w.message(5, (a) => {
      a.string(1, name);
      if (typeof value === 'number') {
        if (!Number.isInteger(value)) throw new TypeError(`attribute ${name} of ${n.opType}: ${value} is not an integer; write { float: ${value} }`);
        a.int(3, value).int(20, ATTR_INT);
      } else if (typeof value === 'string') a.string(4, value).int(20, ATTR_STRING);
      else if ('float' in value) a.float(2, value.float).int(20, ATTR_FLOAT);
      else if ('floats' in value) {
        for (const v of value.floats) a.float(7, v);
        a.int(20, ATTR_FLOATS);
      } else {
        for (const v of value as readonly number[]) a.int(8, v);
        a.int(20, ATTR_INTS);
      }
    });
  }
  if (n.domain) w.string(7, n.domain);
}

function writeTensor(w: ProtoWriter, t: Initializer): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  if ('raw' in t) {
    w.bytes(9, t.raw);
    return;
  }
  for (const [key, value] of [['location', t.location], ['offset', String(t.offset)], ['length', String(t.length)]] as const) {
    w.message(13, (e) => e.string(1, key).string(2, value));
  }
  w.int(14, 1);
}

function writeValueInfo(w: ProtoWriter, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.elemType);
      tensor.message(2, (shape) => {
        for (const d of v.dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}
