// Reading ONNX messages (onnx/onnx.proto: ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
// ValueInfoProto, OperatorSetIdProto, StringStringEntryProto) over the wire-format reader in protobuf.ts.
// parseOnnxModel gives what the engine needs without running a model: graph inputs/outputs, nodes (op
// type and wiring, for locating LoRA targets) and initializers with where their bytes live (inline
// raw_data, or an external-data file + offset + length). The graph editor (onnxWriter.ts) walks the same
// messages with the same decoders, keeping byte spans and decoding attributes and small constants too.
// Subgraphs inside node attributes (If/Loop bodies) are not part of the model structure: diffusion
// exports do not put weights there.
import { fromFloat16Bits } from './float16';
import { OnnxProtoError, ProtoReader, WIRE_BYTES, WIRE_FIXED32, WIRE_VARINT } from './protobuf';

export { OnnxProtoError };

/** The operator domain of onnxruntime's contrib operators (MultiHeadAttention, DynamicQuantizeMatMul). */
export const CONTRIB_DOMAIN = 'com.microsoft';

/** Where an initializer's bytes are. Offsets are in bytes from the start of model.onnx or of the external file. */
export type InitializerData =
  | { readonly kind: 'raw'; readonly offset: number; readonly length: number }
  | { readonly kind: 'external'; readonly location: string; readonly offset: number; readonly length: number | undefined }
  /** Values stored in typed repeated fields (float_data, int64_data...), as small constants sometimes are. */
  | { readonly kind: 'typed' };

export interface OnnxInitializer {
  readonly name: string;
  /** TensorProto.DataType: 1 float, 10 float16, 16 bfloat16, 7 int64, 6 int32, 11 double... */
  readonly dataType: number;
  readonly dims: readonly number[];
  readonly data: InitializerData;
}

export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

export interface OnnxModelInfo {
  readonly irVersion: number;
  readonly opsets: readonly OnnxOpset[];
  readonly producer: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxInitializer[];
}

export interface OnnxOpset {
  readonly domain: string;
  readonly version: number;
}

/** A small tensor's values, decoded (float16 and integer types converted to numbers). */
export interface TensorValue {
  readonly dataType: number;
  readonly dims: readonly number[];
  /** Undefined when the tensor is too large, external, or of a type not decoded here. */
  readonly values: readonly number[] | undefined;
}

export interface NodeAttribute {
  readonly name: string;
  readonly type: number;
  readonly f: number | undefined;
  readonly i: number | undefined;
  readonly floats: readonly number[];
  readonly ints: readonly number[];
  readonly t: TensorValue | undefined;
}

/** Byte size of one element of a TensorProto.DataType, or undefined for strings and unknown types. */
export function onnxDataTypeSize(dataType: number): number | undefined {
  const sizes: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };
  return sizes[dataType];
}

/** Constant tensors with at most this many elements have their values decoded. */
const MAX_DECODED_ELEMENTS = 64;

function expectWire(r: ProtoReader, wireType: number, expected: number, what: string): void {
  if (wireType !== expected) throw new OnnxProtoError(`${what} has wire type ${wireType}, expected ${expected}`, r.pos, false);
}

/** One field of a message: its number, wire type, byte span [start, end) (key included), and a reader over its value. */
export interface MessageField {
  readonly field: number;
  readonly wireType: number;
  readonly start: number;
  readonly end: number;
  readonly value: ProtoReader;
}

/** Calls `visit` for each field of a message, after checking the wire types `expected` names. */
function eachField(r: ProtoReader, visit: (f: MessageField) => void, expected: Record<number, [number, string]> = {}): void {
  r.fields((field, wireType, start) => {
    const valueStart = r.pos;
    const wire = expected[field];
    if (wire) expectWire(r, wireType, wire[0], wire[1]);
    r.skip(wireType);
    visit({ field, wireType, start, end: r.pos, value: new ProtoReader(r.bytes, valueStart, r.pos) });
    return true;
  });
}

/** The wire type each ModelProto field the engine reads must have. */
const MODEL_FIELD_WIRE: Record<number, [number, string]> = {
  1: [WIRE_VARINT, 'ModelProto.ir_version'],
  7: [WIRE_BYTES, 'ModelProto.graph'],
  8: [WIRE_BYTES, 'ModelProto.opset_import'],
};

/**
 * Walks a ModelProto in file order: `model` sees every top-level field (the graph included), then, for
 * the graph, `graph` sees each of its fields. Throws OnnxProtoError when the bytes are malformed or hold
 * no graph.
 */
export function walkModel(bytes: Uint8Array, visit: { model(f: MessageField): void; graph(f: MessageField): void }): void {
  const top = new ProtoReader(bytes, 0, bytes.length);
  let sawGraph = false;
  eachField(top, (f) => {
    visit.model(f);
    if (f.field !== 7) return;
    sawGraph = true;
    eachField(f.value.sub(), visit.graph);
  }, MODEL_FIELD_WIRE);
  if (!sawGraph) throw new OnnxProtoError('no graph found (this is not an ONNX model)', bytes.length, false);
}

export function readValueInfoName(r: ProtoReader): string {
  let name = '';
  r.fields((n, w) => {
    if (n !== 1) return false;
    expectWire(r, w, WIRE_BYTES, 'ValueInfoProto.name');
    name = r.string();
    return true;
  });
  return name;
}

export function readOpset(r: ProtoReader): OnnxOpset {
  let domain = '';
  let version = 0;
  r.fields((n, w) => {
    if (n === 1 && w === WIRE_BYTES) domain = r.string();
    else if (n === 2 && w === WIRE_VARINT) version = r.int64();
    else return false;
    return true;
  });
  return { domain, version };
}

/** A NodeProto's wiring; `attribute`, when given, receives a reader over each AttributeProto (else they are skipped). */
export function readNode(r: ProtoReader, attribute?: (a: ProtoReader) => void): OnnxNode {
  const inputs: string[] = [];
  const outputs: string[] = [];
  let name = '';
  let opType = '';
  let domain = '';
  r.fields((n, w) => {
    if (w !== WIRE_BYTES) return false;
    if (n === 1) inputs.push(r.string());
    else if (n === 2) outputs.push(r.string());
    else if (n === 3) name = r.string();
    else if (n === 4) opType = r.string();
    else if (n === 7) domain = r.string();
    else if (n === 5 && attribute) attribute(r.sub());
    else return false;
    return true;
  });
  return { name, opType, domain, inputs, outputs };
}

/**
 * A TensorProto: name, type, shape and where its data is. With `typed`, the values of its typed repeated
 * fields (float_data, int32_data, int64_data, double_data) are collected there (at most
 * MAX_DECODED_ELEMENTS + 1 of them); without, those fields are skipped.
 */
export function readTensor(r: ProtoReader, typed?: number[]): OnnxInitializer {
  const dims: number[] = [];
  const external = new Map<string, string>();
  const limit = MAX_DECODED_ELEMENTS + 1;
  let name = '';
  let dataType = 0;
  let dataLocation = 0;
  let raw: [number, number] | undefined;
  r.fields((n, w) => {
    switch (n) {
      case 1: // dims: repeated int64, packed or not
        if (w !== WIRE_BYTES) expectWire(r, w, WIRE_VARINT, 'TensorProto.dims');
        r.repeated(w, (p) => p.int64(), dims, Infinity);
        return true;
      case 2:
        expectWire(r, w, WIRE_VARINT, 'TensorProto.data_type');
        dataType = r.varint();
        return true;
      case 4: // float_data
        if (!typed) return false;
        r.repeated(w, (p) => p.float32(), typed, limit);
        return true;
      case 5: // int32_data (also carries float16 bit patterns)
      case 7: // int64_data
        if (!typed) return false;
        r.repeated(w, (p) => p.int64(), typed, limit);
        return true;
      case 10: // double_data
        if (!typed) return false;
        r.repeated(w, (p) => p.float64(), typed, limit);
        return true;
      case 8:
        expectWire(r, w, WIRE_BYTES, 'TensorProto.name');
        name = r.string();
        return true;
      case 9:
        expectWire(r, w, WIRE_BYTES, 'TensorProto.raw_data');
        raw = r.span();
        return true;
      case 13: {
        expectWire(r, w, WIRE_BYTES, 'TensorProto.external_data');
        const entry = r.sub();
        let key = '';
        let value = '';
        entry.fields((en, ew) => {
          if ((en !== 1 && en !== 2) || ew !== WIRE_BYTES) return false;
          if (en === 1) key = entry.string();
          else value = entry.string();
          return true;
        });
        external.set(key, value);
        return true;
      }
      case 14:
        expectWire(r, w, WIRE_VARINT, 'TensorProto.data_location');
        dataLocation = r.varint();
        return true;
      default:
        return false;
    }
  });
  let data: InitializerData;
  if (dataLocation === 1) {
    const location = external.get('location');
    if (!location) throw new OnnxProtoError(`initializer '${name}' is marked external but names no location`, r.pos, false);
    const offset = parseNonNegative(external.get('offset'), `initializer '${name}' external offset`, r.pos) ?? 0;
    const length = parseNonNegative(external.get('length'), `initializer '${name}' external length`, r.pos);
    data = { kind: 'external', location, offset, length };
  } else if (raw) {
    data = { kind: 'raw', offset: raw[0], length: raw[1] - raw[0] };
  } else {
    data = { kind: 'typed' };
  }
  return { name, dataType, dims, data };
}

function parseNonNegative(text: string | undefined, what: string, pos: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new OnnxProtoError(`${what} is '${text}', not a non-negative integer`, pos, false);
  return Number(text);
}

/** A tensor read with readTensor(r, typed), with its values when it is small and stored in the model. */
export function tensorValue(bytes: Uint8Array, tensor: OnnxInitializer, typed: readonly number[]): TensorValue {
  const { dataType, dims, data } = tensor;
  const count = dims.reduce((a, d) => a * d, 1);
  let values: readonly number[] | undefined;
  if (data.kind !== 'external' && count >= 0 && count <= MAX_DECODED_ELEMENTS) {
    if (data.kind === 'raw') values = decodeRaw(bytes.subarray(data.offset, data.offset + data.length), dataType, count);
    else if (typed.length === count) values = dataType === 10 ? typed.map(fromFloat16Bits) : typed;
  }
  return { dataType, dims, values };
}

function decodeRaw(bytes: Uint8Array, dataType: number, count: number): number[] | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  const size = { 1: 4, 6: 4, 7: 8, 10: 2, 11: 8 }[dataType];
  if (size === undefined || bytes.byteLength !== size * count) return undefined;
  for (let k = 0; k < count; k++) {
    const o = k * size;
    if (dataType === 1) out.push(view.getFloat32(o, true));
    else if (dataType === 6) out.push(view.getInt32(o, true));
    else if (dataType === 7) out.push(Number(view.getBigInt64(o, true)));
    else if (dataType === 10) out.push(fromFloat16Bits(view.getUint16(o, true)));
    else out.push(view.getFloat64(o, true));
  }
  return out;
}

/** An AttributeProto; the spans of its subgraphs (g, graphs) are added to `subgraphs`. */
export function readAttribute(r: ProtoReader, subgraphs: [number, number][]): NodeAttribute {
  let name = '';
  let type = 0;
  let f: number | undefined;
  let i: number | undefined;
  let t: TensorValue | undefined;
  const floats: number[] = [];
  const ints: number[] = [];
  r.fields((n, w) => {
    if (n === 1 && w === WIRE_BYTES) name = r.string();
    else if (n === 2 && w === WIRE_FIXED32) f = r.float32();
    else if (n === 3 && w === WIRE_VARINT) i = r.int64();
    else if (n === 5 && w === WIRE_BYTES) {
      const typed: number[] = [];
      t = tensorValue(r.bytes, readTensor(r.sub(), typed), typed);
    } else if ((n === 6 || n === 11) && w === WIRE_BYTES) subgraphs.push(r.span());
    else if (n === 7) r.repeated(w, (p) => p.float32(), floats, 1024);
    else if (n === 8) r.repeated(w, (p) => p.int64(), ints, 1024);
    else if (n === 20 && w === WIRE_VARINT) type = r.varint();
    else return false;
    return true;
  });
  return { name, type, f, i, floats, ints, t };
}

/**
 * Parses the structure of an ONNX model. Throws OnnxProtoError when the bytes are not a ModelProto with a
 * graph (random bytes, a truncated download, an HTML error page saved as model.onnx...).
 */
export function parseOnnxModel(bytes: Uint8Array): OnnxModelInfo {
  const inputs: string[] = [];
  const outputs: string[] = [];
  const nodes: OnnxNode[] = [];
  const initializers: OnnxInitializer[] = [];
  const opsets: OnnxOpset[] = [];
  let irVersion = 0;
  let producer = '';
  walkModel(bytes, {
    model({ field, wireType, value }) {
      if (field === 1) irVersion = value.varint();
      else if (field === 2 && wireType === WIRE_BYTES) producer = value.string();
      else if (field === 8) opsets.push(readOpset(value.sub()));
    },
    graph({ field, wireType, value }) {
      if (wireType !== WIRE_BYTES) return;
      if (field === 1) nodes.push(readNode(value.sub()));
      else if (field === 5) initializers.push(readTensor(value.sub()));
      else if (field === 11) inputs.push(readValueInfoName(value.sub()));
      else if (field === 12) outputs.push(readValueInfoName(value.sub()));
    },
  });
  if (irVersion === 0) throw new OnnxProtoError('no IR version found (this is not an ONNX model)', bytes.length, false);
  // Exporters write opset_import after the graph, so a file cut right after the graph lands here.
  if (opsets.length === 0) throw new OnnxProtoError('the model declares no operator set (truncated after its graph?)', bytes.length, true);
  return { irVersion, opsets, producer, inputs, outputs, nodes, initializers };
}
