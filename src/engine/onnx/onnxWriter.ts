// Graph editing for ONNX models: a bounds-checked reader that keeps the byte span of every ModelProto,
// GraphProto and NodeProto field (plus node attributes and small constant values, which onnxProto.ts
// does not decode), and a writer that re-serializes a model with a new node list. Every other field
// (initializers with their raw_data, inputs, outputs, metadata) is copied byte for byte, so external
// data offsets stay valid. Field numbers follow onnx/onnx.proto; the wire format the protobuf spec.
import { OnnxProtoError, ProtoReader as Reader, WIRE_BYTES, WIRE_FIXED32, WIRE_VARINT } from './protoReader';


/** Constant tensors with at most this many elements have their values decoded. */
const MAX_DECODED_ELEMENTS = 64;
/** Deepest If/Loop body nesting walked when collecting the names subgraphs read. */
const MAX_SUBGRAPH_DEPTH = 32;

/** AttributeProto.AttributeType values the writer emits. */
const ATTR_FLOAT = 1;
const ATTR_INT = 2;

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

export interface EditableNode {
  /** Position in the graph's node list. */
  readonly index: number;
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: ReadonlyMap<string, NodeAttribute>;
  /** [start, end) of the whole `node` field (key, length and payload) in the model bytes. */
  readonly span: readonly [number, number];
}

/** A node to write: new ones carry their attributes; unchanged ones are copied from their span. */
export interface NewNode {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: readonly ({ readonly name: string; readonly f: number } | { readonly name: string; readonly i: number })[];
}

interface FieldSpan {
  readonly field: number;
  readonly start: number;
  readonly end: number;
}

export interface EditableModel {
  readonly bytes: Uint8Array;
  readonly opsets: readonly { readonly domain: string; readonly version: number }[];
  readonly nodes: readonly EditableNode[];
  /** Initializers by name: type, shape and (when small) values. */
  readonly initializers: ReadonlyMap<string, TensorValue>;
  readonly graphInputs: readonly string[];
  readonly graphOutputs: readonly string[];
  /** Every name a node inside an If/Loop/Scan body reads (it may come from the outer graph). */
  readonly subgraphReads: ReadonlySet<string>;
  readonly modelFields: readonly FieldSpan[];
  readonly graphFields: readonly FieldSpan[];
  /** value_info entries by name of the tensor they describe (graph field 13). */
  readonly valueInfoNames: ReadonlyMap<FieldSpan, string>;
  /** initializer entries by the name of the tensor they hold (graph field 5). */
  readonly initializerNames: ReadonlyMap<FieldSpan, string>;
}


function float16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
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
    else if (dataType === 10) out.push(float16ToNumber(view.getUint16(o, true)));
    else out.push(view.getFloat64(o, true));
  }
  return out;
}

function readTensor(r: Reader): { name: string; value: TensorValue } {
  const dims: number[] = [];
  const typed: number[] = [];
  let name = '';
  let dataType = 0;
  let raw: [number, number] | undefined;
  let external = false;
  const limit = MAX_DECODED_ELEMENTS + 1;
  r.fields((n, w) => {
    switch (n) {
      case 1:
        r.repeated(w, (p) => p.int64(), dims, 64);
        return true;
      case 2:
        if (w !== WIRE_VARINT) return false;
        dataType = r.varint();
        return true;
      case 4: // float_data
        r.repeated(w, (p) => p.float32(), typed, limit);
        return true;
      case 5: // int32_data (also carries float16 bit patterns)
      case 7: // int64_data
        r.repeated(w, (p) => p.int64(), typed, limit);
        return true;
      case 10: // double_data
        r.repeated(w, (p) => p.float64(), typed, limit);
        return true;
      case 8:
        if (w !== WIRE_BYTES) return false;
        name = r.string();
        return true;
      case 9:
        if (w !== WIRE_BYTES) return false;
        raw = r.span();
        return true;
      case 14:
        if (w !== WIRE_VARINT) return false;
        external = r.varint() === 1;
        return true;
      default:
        return false;
    }
  });
  const count = dims.reduce((a, d) => a * d, 1);
  let values: number[] | undefined;
  if (!external && count >= 0 && count <= MAX_DECODED_ELEMENTS) {
    if (raw) values = decodeRaw(r.bytes.subarray(raw[0], raw[1]), dataType, count);
    else if (typed.length === count) values = dataType === 10 ? typed.map(float16ToNumber) : typed;
  }
  return { name, value: { dataType, dims, values } };
}

function readAttribute(r: Reader, subgraphs: [number, number][]): NodeAttribute {
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
    else if (n === 5 && w === WIRE_BYTES) t = readTensor(r.sub()).value;
    else if ((n === 6 || n === 11) && w === WIRE_BYTES) subgraphs.push(r.span());
    else if (n === 7) r.repeated(w, (p) => p.float32(), floats, 1024);
    else if (n === 8) r.repeated(w, (p) => p.int64(), ints, 1024);
    else if (n === 20 && w === WIRE_VARINT) type = r.varint();
    else return false;
    return true;
  });
  return { name, type, f, i, floats, ints, t };
}

function readNode(r: Reader, index: number, span: [number, number], subgraphs: [number, number][]): EditableNode {
  const inputs: string[] = [];
  const outputs: string[] = [];
  const attributes = new Map<string, NodeAttribute>();
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
    else if (n === 5) {
      const a = readAttribute(r.sub(), subgraphs);
      attributes.set(a.name, a);
    } else return false;
    return true;
  });
  return { index, name, opType, domain, inputs, outputs, attributes, span };
}

/** Adds every node input inside a subgraph (and its nested subgraphs) to `into`. */
function collectSubgraphReads(bytes: Uint8Array, span: [number, number], into: Set<string>, depth: number): void {
  if (depth > MAX_SUBGRAPH_DEPTH) throw new OnnxProtoError(`subgraphs nested more than ${MAX_SUBGRAPH_DEPTH} deep`, span[0], false);
  const r = new Reader(bytes, span[0], span[1]);
  r.fields((n, w) => {
    if (n !== 1 || w !== WIRE_BYTES) return false;
    const nested: [number, number][] = [];
    const node = readNode(r.sub(), 0, [0, 0], nested);
    for (const name of node.inputs) into.add(name);
    for (const s of nested) collectSubgraphReads(bytes, s, into, depth + 1);
    return true;
  });
}

function readValueInfoName(r: Reader): string {
  let name = '';
  r.fields((n, w) => {
    if (n !== 1 || w !== WIRE_BYTES) return false;
    name = r.string();
    return true;
  });
  return name;
}

/** Parses a ModelProto for editing. Throws OnnxProtoError on malformed bytes. */
export function parseEditableModel(bytes: Uint8Array): EditableModel {
  const modelFields: FieldSpan[] = [];
  const graphFields: FieldSpan[] = [];
  const opsets: { domain: string; version: number }[] = [];
  const nodes: EditableNode[] = [];
  const initializers = new Map<string, TensorValue>();
  const graphInputs: string[] = [];
  const graphOutputs: string[] = [];
  const valueInfoNames = new Map<FieldSpan, string>();
  const initializerNames = new Map<FieldSpan, string>();
  const subgraphReads = new Set<string>();
  let sawGraph = false;
  const top = new Reader(bytes, 0, bytes.length);
  top.fields((n, w, start) => {
    top.skip(w);
    modelFields.push({ field: n, start, end: top.pos });
    if (n === 7 && w === WIRE_BYTES) {
      if (sawGraph) throw new OnnxProtoError('the model has two graphs', start, false);
      sawGraph = true;
      const g = new Reader(bytes, start, top.pos);
      g.varint();
      const graph = g.sub();
      graph.fields((gn, gw, gstart) => {
        if (gw !== WIRE_BYTES) {
          graph.skip(gw);
          graphFields.push({ field: gn, start: gstart, end: graph.pos });
          return true;
        }
        const sub = graph.sub();
        const span: FieldSpan = { field: gn, start: gstart, end: graph.pos };
        graphFields.push(span);
        if (gn === 1) {
          const nested: [number, number][] = [];
          nodes.push(readNode(sub, nodes.length, [gstart, graph.pos], nested));
          for (const s of nested) collectSubgraphReads(bytes, s, subgraphReads, 1);
        } else if (gn === 5) {
          const t = readTensor(sub);
          initializers.set(t.name, t.value);
          initializerNames.set(span, t.name);
        } else if (gn === 11) graphInputs.push(readValueInfoName(sub));
        else if (gn === 12) graphOutputs.push(readValueInfoName(sub));
        else if (gn === 13) valueInfoNames.set(span, readValueInfoName(sub));
        return true;
      });
    } else if (n === 8 && w === WIRE_BYTES) {
      const o = new Reader(bytes, start, top.pos);
      o.varint();
      const sub = o.sub();
      let domain = '';
      let version = 0;
      sub.fields((sn, sw) => {
        if (sn === 1 && sw === WIRE_BYTES) domain = sub.string();
        else if (sn === 2 && sw === WIRE_VARINT) version = sub.int64();
        else return false;
        return true;
      });
      opsets.push({ domain, version });
    }
    return true;
  });
  if (!sawGraph) throw new OnnxProtoError('no graph found (this is not an ONNX model)', bytes.length, false);
  return { bytes, opsets, nodes, initializers, graphInputs, graphOutputs, subgraphReads, modelFields, graphFields, valueInfoNames, initializerNames };
}

/** Appends protobuf fields to a growing list of chunks. */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  get byteLength(): number {
    return this.length;
  }

  raw(bytes: Uint8Array): this {
    this.chunks.push(bytes);
    this.length += bytes.length;
    return this;
  }

  varint(value: number | bigint): this {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) b |= 0x80;
      out.push(b);
    } while (v !== 0n);
    return this.raw(Uint8Array.from(out));
  }

  key(field: number, wireType: number): this {
    return this.varint(field * 8 + wireType);
  }

  int(field: number, value: number): this {
    return this.key(field, WIRE_VARINT).varint(value);
  }

  float(field: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    return this.key(field, WIRE_FIXED32).raw(b);
  }

  bytes(field: number, payload: Uint8Array): this {
    return this.key(field, WIRE_BYTES).varint(payload.length).raw(payload);
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** Appends a length-delimited field holding `inner`'s bytes, without copying them. */
  embed(field: number, inner: ProtoWriter): this {
    this.key(field, WIRE_BYTES).varint(inner.length);
    for (const c of inner.chunks) this.raw(c);
    return this;
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const w = new ProtoWriter();
    build(w);
    return this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/** Encodes a NodeProto (without the enclosing field key). */
export function encodeNode(node: NewNode): Uint8Array {
  const w = new ProtoWriter();
  for (const i of node.inputs) w.string(1, i);
  for (const o of node.outputs) w.string(2, o);
  if (node.name) w.string(3, node.name);
  w.string(4, node.opType);
  for (const a of node.attributes) {
    w.message(5, (aw) => {
      aw.string(1, a.name);
      if ('f' in a) aw.float(2, a.f).int(20, ATTR_FLOAT);
      else aw.int(3, a.i).int(20, ATTR_INT);
    });
  }
  if (node.domain) w.string(7, node.domain);
  return w.finish();
}

export interface ModelEdit {
  /** The graph's new node list, in order: kept nodes (copied verbatim) and new ones. */
  readonly nodes: readonly (EditableNode | NewNode)[];
  /** Operator sets to declare if the model does not import their domain yet. */
  readonly addOpsets?: readonly { readonly domain: string; readonly version: number }[];
  /** Tensors that no longer exist: their value_info entries are dropped. */
  readonly removedTensors?: ReadonlySet<string>;
  /** Initializers to drop (no node reads them any more). */
  readonly removedInitializers?: ReadonlySet<string>;
  /** Initializers to add, stored inline (raw_data) in the graph. */
  readonly addedInitializers?: readonly NewInitializer[];
}

/** A tensor to store inline: TensorProto.DataType, shape and little-endian bytes. */
export interface NewInitializer {
  readonly name: string;
  readonly dataType: number;
  readonly dims: readonly number[];
  readonly raw: Uint8Array;
}

/** Encodes a TensorProto (without the enclosing field key). */
export function encodeTensor(t: NewInitializer): Uint8Array {
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  w.bytes(9, t.raw);
  return w.finish();
}

function isEditable(n: EditableNode | NewNode): n is EditableNode {
  return 'span' in n;
}

/** Re-serializes `model` with the graph's nodes replaced; every other field is copied unchanged. */
export function writeEditedModel(model: EditableModel, edit: ModelEdit): Uint8Array {
  const { bytes } = model;
  const graph = new ProtoWriter();
  let nodesWritten = false;
  const writeNodes = (): void => {
    nodesWritten = true;
    for (const n of edit.nodes) {
      if (isEditable(n)) graph.raw(bytes.subarray(n.span[0], n.span[1]));
      else graph.bytes(1, encodeNode(n));
    }
  };
  for (const f of model.graphFields) {
    if (f.field === 1) {
      if (!nodesWritten) writeNodes();
      continue;
    }
    if (f.field === 13 && edit.removedTensors?.has(model.valueInfoNames.get(f) ?? '')) continue;
    if (f.field === 5 && edit.removedInitializers?.has(model.initializerNames.get(f) ?? '')) continue;
    graph.raw(bytes.subarray(f.start, f.end));
  }
  if (!nodesWritten) writeNodes();
  for (const t of edit.addedInitializers ?? []) graph.bytes(5, encodeTensor(t));
  const out = new ProtoWriter();
  for (const f of model.modelFields) {
    if (f.field === 7) out.embed(7, graph);
    else out.raw(bytes.subarray(f.start, f.end));
  }
  for (const o of edit.addOpsets ?? []) {
    if (model.opsets.some((m) => m.domain === o.domain)) continue;
    out.message(8, (w) => w.string(1, o.domain).int(2, o.version));
  }
  return out.finish();
}
