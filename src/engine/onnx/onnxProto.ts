// A minimal, bounds-checked reader for the parts of an ONNX ModelProto the engine needs without running
// it: graph inputs/outputs, nodes (op type and wiring, for locating LoRA targets) and initializers with
// where their bytes live (inline raw_data, or an external-data file + offset + length).
// Field numbers follow onnx/onnx.proto (ModelProto, GraphProto, NodeProto, TensorProto,
// StringStringEntryProto); the wire format follows the protobuf encoding spec. Subgraphs inside node
// attributes (If/Loop bodies) are not walked: diffusion exports do not put weights there.
import { OnnxProtoError, ProtoReader as Reader, WIRE_BYTES, WIRE_VARINT } from './protoReader';

export { OnnxProtoError };

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
  readonly opsets: readonly { readonly domain: string; readonly version: number }[];
  readonly producer: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxInitializer[];
}

/** Byte size of one element of a TensorProto.DataType, or undefined for strings and unknown types. */
export function onnxDataTypeSize(dataType: number): number | undefined {
  const sizes: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };
  return sizes[dataType];
}



function expectWire(r: Reader, wireType: number, expected: number, what: string): void {
  if (wireType !== expected) throw new OnnxProtoError(`${what} has wire type ${wireType}, expected ${expected}`, r.pos, false);
}

function readValueInfoName(r: Reader): string {
  let name = '';
  r.fields((n, w) => {
    if (n !== 1) return false;
    expectWire(r, w, WIRE_BYTES, 'ValueInfoProto.name');
    name = r.string();
    return true;
  });
  return name;
}

function readNode(r: Reader): OnnxNode {
  const inputs: string[] = [];
  const outputs: string[] = [];
  let name = '';
  let opType = '';
  let domain = '';
  r.fields((n, w) => {
    if (n < 1 || n > 7 || n === 5 || n === 6 || w !== WIRE_BYTES) return false;
    const s = r.string();
    if (n === 1) inputs.push(s);
    else if (n === 2) outputs.push(s);
    else if (n === 3) name = s;
    else if (n === 4) opType = s;
    else domain = s;
    return true;
  });
  return { name, opType, domain, inputs, outputs };
}

function readTensor(r: Reader): OnnxInitializer {
  const dims: number[] = [];
  const external = new Map<string, string>();
  let name = '';
  let dataType = 0;
  let dataLocation = 0;
  let raw: [number, number] | undefined;
  r.fields((n, w) => {
    switch (n) {
      case 1: // dims: repeated int64, packed or not
        if (w === WIRE_BYTES) {
          const p = r.sub();
          while (!p.done) dims.push(p.varint());
        } else {
          expectWire(r, w, WIRE_VARINT, 'TensorProto.dims');
          dims.push(r.varint());
        }
        return true;
      case 2:
        expectWire(r, w, WIRE_VARINT, 'TensorProto.data_type');
        dataType = r.varint();
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

function readGraph(r: Reader, into: { inputs: string[]; outputs: string[]; nodes: OnnxNode[]; initializers: OnnxInitializer[] }): void {
  r.fields((n, w) => {
    if (w !== WIRE_BYTES || ![1, 5, 11, 12].includes(n)) return false;
    const sub = r.sub();
    if (n === 1) into.nodes.push(readNode(sub));
    else if (n === 5) into.initializers.push(readTensor(sub));
    else if (n === 11) into.inputs.push(readValueInfoName(sub));
    else into.outputs.push(readValueInfoName(sub));
    return true;
  });
}

/**
 * Parses the structure of an ONNX model. Throws OnnxProtoError when the bytes are not a ModelProto with a
 * graph (random bytes, a truncated download, an HTML error page saved as model.onnx...).
 */
export function parseOnnxModel(bytes: Uint8Array): OnnxModelInfo {
  const r = new Reader(bytes, 0, bytes.length);
  const graph = { inputs: [] as string[], outputs: [] as string[], nodes: [] as OnnxNode[], initializers: [] as OnnxInitializer[] };
  const opsets: { domain: string; version: number }[] = [];
  let irVersion = 0;
  let producer = '';
  let sawGraph = false;
  r.fields((n, w) => {
    if (n === 1) {
      expectWire(r, w, WIRE_VARINT, 'ModelProto.ir_version');
      irVersion = r.varint();
      return true;
    }
    if (n === 2 && w === WIRE_BYTES) {
      producer = r.string();
      return true;
    }
    if (n === 7) {
      expectWire(r, w, WIRE_BYTES, 'ModelProto.graph');
      readGraph(r.sub(), graph);
      sawGraph = true;
      return true;
    }
    if (n === 8) {
      expectWire(r, w, WIRE_BYTES, 'ModelProto.opset_import');
      const sub = r.sub();
      let domain = '';
      let version = 0;
      sub.fields((sn, sw) => {
        if (sn === 1 && sw === WIRE_BYTES) domain = sub.string();
        else if (sn === 2 && sw === WIRE_VARINT) version = sub.varint();
        else return false;
        return true;
      });
      opsets.push({ domain, version });
      return true;
    }
    return false;
  });
  if (!sawGraph) throw new OnnxProtoError('no graph found (this is not an ONNX model)', bytes.length, false);
  if (irVersion === 0) throw new OnnxProtoError('no IR version found (this is not an ONNX model)', bytes.length, false);
  // Exporters write opset_import after the graph, so a file cut right after the graph lands here.
  if (opsets.length === 0) throw new OnnxProtoError('the model declares no operator set (truncated after its graph?)', bytes.length, true);
  return { irVersion, opsets, producer, ...graph };
}
