// Graph editing for ONNX models: parseEditableModel reads a model with onnxProto.ts's decoders and keeps
// the byte span of every ModelProto and GraphProto field (plus node attributes and small constant values,
// which parseOnnxModel does not decode); writeEditedModel re-serializes it with a new node list. Every
// other field (initializers with their raw_data, inputs, outputs, metadata) is copied byte for byte, so
// external data offsets stay valid.
import {
  OnnxProtoError,
  readAttribute,
  readNode,
  readOpset,
  readTensor,
  readValueInfoName,
  tensorValue,
  walkModel,
  type NodeAttribute,
  type OnnxNode,
  type OnnxOpset,
  type TensorValue,
} from './onnxProto';
import { ProtoReader, ProtoWriter, WIRE_BYTES } from './protobuf';

export type { NodeAttribute, TensorValue };

/** Deepest If/Loop body nesting walked when collecting the names subgraphs read. */
const MAX_SUBGRAPH_DEPTH = 32;

/** AttributeProto.AttributeType values the writer emits. */
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;

export interface EditableNode extends OnnxNode {
  /** Position in the graph's node list. */
  readonly index: number;
  readonly attributes: ReadonlyMap<string, NodeAttribute>;
  /** [start, end) of the whole `node` field (key, length and payload) in the model bytes. */
  readonly span: readonly [number, number];
}

/** An attribute of a new node: a float, an int, or a list of either. */
export type NewAttribute =
  | { readonly name: string; readonly f: number }
  | { readonly name: string; readonly i: number }
  | { readonly name: string; readonly floats: readonly number[] }
  | { readonly name: string; readonly ints: readonly number[] };

/** A node to write: new ones carry their attributes; unchanged ones are copied from their span. */
export interface NewNode extends OnnxNode {
  readonly attributes: readonly NewAttribute[];
}

interface FieldSpan {
  readonly field: number;
  readonly start: number;
  readonly end: number;
}

export interface EditableModel {
  readonly bytes: Uint8Array;
  readonly opsets: readonly OnnxOpset[];
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

/** A NodeProto with its attributes; the spans of its subgraphs are added to `subgraphs`. */
function readEditableNode(r: ProtoReader, index: number, span: [number, number], subgraphs: [number, number][]): EditableNode {
  const attributes = new Map<string, NodeAttribute>();
  const node = readNode(r, (a) => {
    const attribute = readAttribute(a, subgraphs);
    attributes.set(attribute.name, attribute);
  });
  return { index, ...node, attributes, span };
}

/** Adds every node input inside a subgraph (and its nested subgraphs) to `into`. */
function collectSubgraphReads(bytes: Uint8Array, span: [number, number], into: Set<string>, depth: number): void {
  if (depth > MAX_SUBGRAPH_DEPTH) throw new OnnxProtoError(`subgraphs nested more than ${MAX_SUBGRAPH_DEPTH} deep`, span[0], false);
  const r = new ProtoReader(bytes, span[0], span[1]);
  r.fields((n, w) => {
    if (n !== 1 || w !== WIRE_BYTES) return false;
    const nested: [number, number][] = [];
    const node = readNode(r.sub(), (a) => readAttribute(a, nested));
    for (const name of node.inputs) into.add(name);
    for (const s of nested) collectSubgraphReads(bytes, s, into, depth + 1);
    return true;
  });
}

/** Parses a ModelProto for editing. Throws OnnxProtoError on malformed bytes. */
export function parseEditableModel(bytes: Uint8Array): EditableModel {
  const modelFields: FieldSpan[] = [];
  const graphFields: FieldSpan[] = [];
  const opsets: OnnxOpset[] = [];
  const nodes: EditableNode[] = [];
  const initializers = new Map<string, TensorValue>();
  const graphInputs: string[] = [];
  const graphOutputs: string[] = [];
  const valueInfoNames = new Map<FieldSpan, string>();
  const initializerNames = new Map<FieldSpan, string>();
  const subgraphReads = new Set<string>();
  walkModel(bytes, {
    model({ field, start, end, value }) {
      if (field === 7 && modelFields.some((f) => f.field === 7)) throw new OnnxProtoError('the model has two graphs', start, false);
      modelFields.push({ field, start, end });
      if (field === 8) opsets.push(readOpset(value.sub()));
    },
    graph({ field, wireType, start, end, value }) {
      const span: FieldSpan = { field, start, end };
      graphFields.push(span);
      if (wireType !== WIRE_BYTES) return;
      const sub = value.sub();
      if (field === 1) {
        const nested: [number, number][] = [];
        nodes.push(readEditableNode(sub, nodes.length, [start, end], nested));
        for (const s of nested) collectSubgraphReads(bytes, s, subgraphReads, 1);
      } else if (field === 5) {
        const typed: number[] = [];
        const t = readTensor(sub, typed);
        initializers.set(t.name, tensorValue(bytes, t, typed));
        initializerNames.set(span, t.name);
      } else if (field === 11) graphInputs.push(readValueInfoName(sub));
      else if (field === 12) graphOutputs.push(readValueInfoName(sub));
      else if (field === 13) valueInfoNames.set(span, readValueInfoName(sub));
    },
  });
  return { bytes, opsets, nodes, initializers, graphInputs, graphOutputs, subgraphReads, modelFields, graphFields, valueInfoNames, initializerNames };
}

/** Encodes a NodeProto (without the enclosing field key). */
function encodeNode(node: NewNode, w: ProtoWriter): void {
  for (const i of node.inputs) w.string(1, i);
  for (const o of node.outputs) w.string(2, o);
  if (node.name) w.string(3, node.name);
  w.string(4, node.opType);
  for (const a of node.attributes) {
    w.message(5, (aw) => {
      aw.string(1, a.name);
      if ('f' in a) aw.float(2, a.f).int(20, ATTR_FLOAT);
      else if ('i' in a) aw.int(3, a.i).int(20, ATTR_INT);
      else if ('floats' in a) {
        for (const v of a.floats) aw.float(7, v);
        aw.int(20, ATTR_FLOATS);
      } else {
        for (const v of a.ints) aw.int(8, v);
        aw.int(20, ATTR_INTS);
      }
    });
  }
  if (node.domain) w.string(7, node.domain);
}

export interface ModelEdit {
  /** The graph's new node list, in order: kept nodes (copied verbatim) and new ones. */
  readonly nodes: readonly (EditableNode | NewNode)[];
  /** Operator sets to declare if the model does not import their domain yet. */
  readonly addOpsets?: readonly OnnxOpset[];
  /** Tensors that no longer exist: their value_info entries are dropped. */
  readonly removedTensors?: ReadonlySet<string>;
  /** Initializers to drop (no node reads them any more). */
  readonly removedInitializers?: ReadonlySet<string>;
  /** Initializers to add, inline (raw_data) or as external-data ranges. */
  readonly addedInitializers?: readonly NewInitializer[];
}

/**
 * A tensor to add: TensorProto.DataType, shape and either little-endian bytes stored inline or a byte
 * range of an external-data file (location relative to model.onnx's folder; offsets may pass 2^32).
 */
export type NewInitializer = {
  readonly name: string;
  readonly dataType: number;
  readonly dims: readonly number[];
} & ({ readonly raw: Uint8Array } | { readonly external: { readonly location: string; readonly offset: number; readonly length?: number } });

/** Encodes a TensorProto (without the enclosing field key). */
function encodeTensor(t: NewInitializer, w: ProtoWriter): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  if ('raw' in t) {
    w.bytes(9, t.raw);
    return;
  }
  // external_data (13): StringStringEntryProto {key 1, value 2}; data_location (14) EXTERNAL = 1. The
  // offset is written in decimal, so 64-bit positions survive.
  const { location, offset, length } = t.external;
  const entries = [['location', location], ['offset', String(offset)], ...(length === undefined ? [] : [['length', String(length)]])];
  for (const [key, value] of entries) w.message(13, (e) => e.string(1, key).string(2, value));
  w.int(14, 1);
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
      else graph.message(1, (w) => encodeNode(n, w));
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
  for (const t of edit.addedInitializers ?? []) graph.message(5, (w) => encodeTensor(t, w));
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
