// Small helpers for rewriting a component's graph in a session variant (clip skip, textual inversion):
// who produces and who reads each tensor, copying a node's attributes into a new node, and dropping
// nodes nothing reads any more.
import type { EditableModel, EditableNode, NewAttribute, NewNode } from '../onnx/onnxWriter';

/** AttributeProto.AttributeType values a copied node may carry. */
const ATTRIBUTE_TYPES: Record<number, string> = { 1: 'float', 2: 'int', 3: 'string', 4: 'tensor', 5: 'graph', 6: 'floats', 7: 'ints', 8: 'strings' };

/** Producers and readers of every tensor of a graph. */
export interface GraphIndex {
  readonly producer: ReadonlyMap<string, EditableNode>;
  readonly consumers: ReadonlyMap<string, readonly EditableNode[]>;
}

export function indexGraph(model: EditableModel): GraphIndex {
  const producer = new Map<string, EditableNode>();
  const consumers = new Map<string, EditableNode[]>();
  for (const node of model.nodes) {
    for (const o of node.outputs) if (o) producer.set(o, node);
    for (const i of node.inputs) {
      if (!i) continue;
      const list = consumers.get(i) ?? [];
      list.push(node);
      consumers.set(i, list);
    }
  }
  return { producer, consumers };
}

/** A node's attributes for a new node; `fail` explains an attribute kind the writer cannot copy. */
export function copyAttributes(node: EditableNode, fail: (m: string) => never): NewAttribute[] {
  return [...node.attributes.values()].map((a): NewAttribute => {
    // Old exporters leave the type out; the value present says it.
    const type = a.type || (a.f !== undefined ? 1 : a.i !== undefined ? 2 : a.ints.length ? 7 : a.floats.length ? 6 : 0);
    if (type === 1 && a.f !== undefined) return { name: a.name, f: a.f };
    if (type === 2 && a.i !== undefined) return { name: a.name, i: a.i };
    if (type === 6) return { name: a.name, floats: a.floats };
    if (type === 7) return { name: a.name, ints: a.ints };
    return fail(`node '${node.name || node.outputs[0]}' (${node.opType}) has a ${ATTRIBUTE_TYPES[type] ?? `type-${type}`} attribute '${a.name}', which this rewrite cannot copy`);
  });
}

/** Removes nodes none of whose outputs is read by a node, a subgraph or a graph output. */
export function pruneDeadNodes(model: EditableModel, nodes: (EditableNode | NewNode)[]): { nodes: (EditableNode | NewNode)[]; removedTensors: Set<string> } {
  const live = new Set<string>([...model.graphOutputs, ...model.subgraphReads]);
  const keep = new Array<boolean>(nodes.length).fill(false);
  for (let k = nodes.length - 1; k >= 0; k--) {
    if (!nodes[k].outputs.some((o) => o && live.has(o))) continue;
    keep[k] = true;
    for (const i of nodes[k].inputs) if (i) live.add(i);
  }
  const removedTensors = new Set<string>();
  nodes.forEach((node, k) => {
    if (!keep[k]) for (const o of node.outputs) if (o) removedTensors.add(o);
  });
  return { nodes: nodes.filter((_, k) => keep[k]), removedTensors };
}

/** A copy of `node` as a new node with its tensors renamed (the attributes copied). */
export function renamedNode(node: EditableNode, rename: (tensor: string) => string, fail: (m: string) => never, name = node.name): NewNode {
  return {
    name,
    opType: node.opType,
    domain: node.domain,
    inputs: node.inputs.map((i) => (i ? rename(i) : i)),
    outputs: node.outputs.map((o) => (o ? rename(o) : o)),
    attributes: copyAttributes(node, fail),
  };
}
