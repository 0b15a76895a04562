// Finds, by structure rather than names, the unfused attention chains attentionFusion.ts rewrites into
// MultiHeadAttention. Two layouts are recognized:
// - multi-head: Q/K/V projections [B, S, H·D] → Reshape [B, S, H, D] → Transpose (Q, V: [0,2,1,3];
//   K: [0,2,3,1], possibly as two Transposes) → ... → MatMul → Transpose [0,2,1,3] → Reshape [B, S, H·D];
// - single-head: [B, S, C] projections, K transposed [0,2,1], no head split (H = 1; VAE mid blocks).
// A Mul or Div by a scalar anywhere on the Q or K path or on the scores is folded into the operator's
// scale attribute. Scalars computed at run time from shapes (diffusers' `head_dim ** -0.5`, torch's
// SDPA export `sqrt(1 / sqrt(Shape(Q)[-1]))` on Q and Kᵀ, the VAE's `Shape(x)[1] ** -0.5`) are
// evaluated from the Reshape constants, the projection weights' widths and Conv channel counts. A
// projection weight may be stored [out, in] behind Cast and Transpose (our checkpoint converter's linear
// layers); its width is then its first dimension.
// Masked attention (an Add before the Softmax, as in CLIP's causal mask) is left alone.
import { CONTRIB_DOMAIN } from './onnxProto';
import type { EditableModel, EditableNode, NewNode } from './onnxWriter';

/** A scalar's value and whether ONNX computes with it as an integer (integer Div truncates). */
interface Scalar {
  readonly v: number;
  readonly int: boolean;
}

const INTEGER_TYPES = new Set([2, 3, 4, 5, 6, 7, 12, 13]);
const FLOAT_TYPES = new Set([1, 10, 11, 16]);

export interface Fusion {
  readonly label: string;
  readonly node: NewNode;
  /** The chain's last node; the fused node takes its place in the node order. */
  readonly anchor: EditableNode;
  readonly removed: readonly EditableNode[];
}

/** The edited model's wiring, with the constant and shape arithmetic the patterns need evaluated. */
export class AttentionGraph {
  readonly producer = new Map<string, EditableNode>();
  /** Consumers of each tensor: node inputs, graph outputs and reads from inside subgraphs. */
  readonly uses = new Map<string, number>();
  private readonly shapeReads = new Map<string, number>();
  readonly opset: number;
  /** Dynamic head-size tensors (from Reshape shapes) whose value the projection weights determine. */
  readonly bindings = new Map<string, number>();
  private readonly memo = new Map<string, Scalar | undefined>();

  constructor(readonly model: EditableModel) {
    for (const n of model.nodes) {
      for (const o of n.outputs) if (o) this.producer.set(o, n);
      for (const i of n.inputs) if (i) this.uses.set(i, (this.uses.get(i) ?? 0) + 1);
      if (n.opType === 'Shape' && n.domain === '') this.shapeReads.set(n.inputs[0], (this.shapeReads.get(n.inputs[0]) ?? 0) + 1);
    }
    for (const o of model.graphOutputs) this.uses.set(o, (this.uses.get(o) ?? 0) + 1);
    for (const s of model.subgraphReads) this.uses.set(s, (this.uses.get(s) ?? 0) + 1);
    this.opset = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
    this.bindHeadSizes();
  }

  /** Consumers of `t` other than Shape nodes (which read only its dimensions). */
  use(t: string): number {
    return (this.uses.get(t) ?? 0) - (this.shapeReads.get(t) ?? 0);
  }

  op(t: string, opType: string): EditableNode | undefined {
    const p = this.producer.get(t);
    return p && p.opType === opType && p.domain === '' ? p : undefined;
  }

  /** The value of a one-element tensor computable from constants (and bound head sizes), else undefined. */
  scalar(t: string): number | undefined {
    return this.typedScalar(t, 0)?.v;
  }

  private typedScalar(t: string, depth: number): Scalar | undefined {
    const bound = this.bindings.get(t);
    if (bound !== undefined) return { v: bound, int: true };
    if (this.memo.has(t)) return this.memo.get(t);
    this.memo.set(t, undefined); // a cycle (malformed graph) reads undefined instead of recursing forever
    const v = depth > 32 ? undefined : this.computeScalar(t, depth);
    this.memo.set(t, v);
    return v;
  }

  private computeScalar(t: string, depth: number): Scalar | undefined {
    const init = this.model.initializers.get(t);
    if (init) return init.values?.length === 1 ? { v: init.values[0], int: INTEGER_TYPES.has(init.dataType) } : undefined;
    const p = this.producer.get(t);
    if (!p || p.domain !== '') return undefined;
    const arg = (k: number): Scalar | undefined => (p.inputs[k] ? this.typedScalar(p.inputs[k], depth + 1) : undefined);
    switch (p.opType) {
      case 'Constant': {
        const value = p.attributes.get('value')?.t;
        if (value) return value.values?.length === 1 ? { v: value.values[0], int: INTEGER_TYPES.has(value.dataType) } : undefined;
        const f = p.attributes.get('value_float')?.f;
        const i = p.attributes.get('value_int')?.i;
        return f !== undefined ? { v: f, int: false } : i !== undefined ? { v: i, int: true } : undefined;
      }
      case 'Slice':
      case 'Gather': {
        const d = this.shapeElement(p);
        return d === undefined ? undefined : { v: d, int: true };
      }
    }
    const a = arg(0);
    if (a === undefined) return undefined;
    switch (p.opType) {
      case 'Identity':
      case 'Unsqueeze':
      case 'Squeeze':
        return a;
      case 'Cast': {
        const to = p.attributes.get('to')?.i ?? 0;
        if (INTEGER_TYPES.has(to)) return { v: Math.trunc(a.v), int: true };
        return FLOAT_TYPES.has(to) ? { v: a.v, int: false } : undefined;
      }
      case 'Sqrt':
        return { v: Math.sqrt(a.v), int: false };
      case 'Reciprocal':
        return { v: 1 / a.v, int: false };
      case 'Neg':
        return { v: -a.v, int: a.int };
    }
    const b = arg(1);
    if (b === undefined) return undefined;
    const int = a.int && b.int;
    switch (p.opType) {
      case 'Pow':
        return { v: int ? Math.trunc(a.v ** b.v) : a.v ** b.v, int };
      case 'Mul':
        return { v: a.v * b.v, int };
      case 'Div':
        return { v: int ? Math.trunc(a.v / b.v) : a.v / b.v, int };
      case 'Add':
        return { v: a.v + b.v, int };
      case 'Sub':
        return { v: a.v - b.v, int };
      default:
        return undefined;
    }
  }

  /** One element of Shape(t), taken by Slice (one element, or the last) or Gather, when t's dimension is known. */
  private shapeElement(p: EditableNode): number | undefined {
    const shapeOf = this.op(p.inputs[0], 'Shape');
    if (!shapeOf || shapeOf.attributes.size > 0) return undefined;
    if (p.opType === 'Gather') {
      const index = this.constValues(p.inputs[1]);
      return index?.length === 1 && (p.attributes.get('axis')?.i ?? 0) === 0 ? this.dim(shapeOf.inputs[0], index[0]) : undefined;
    }
    const starts = this.constValues(p.inputs[1]);
    const ends = this.constValues(p.inputs[2]);
    const axes = p.inputs[3] ? this.constValues(p.inputs[3]) : [0];
    const steps = p.inputs[4] ? this.constValues(p.inputs[4]) : [1];
    if (starts?.length !== 1 || ends?.length !== 1 || axes?.length !== 1 || axes[0] !== 0 || steps?.length !== 1 || steps[0] !== 1) return undefined;
    const [s, e] = [starts[0], ends[0]];
    if (s === -1 && e >= 2 ** 31 - 1) return this.dim(shapeOf.inputs[0], -1);
    return s >= 0 && e === s + 1 ? this.dim(shapeOf.inputs[0], s) : undefined;
  }

  /** A static (or bound) dimension of `t` traced through Transpose, Reshape, Conv channels and elementwise ops. */
  dim(t: string, axis: number, depth = 0): number | undefined {
    const p = this.producer.get(t);
    if (!p || p.domain !== '' || depth > 16) return undefined;
    if (p.opType === 'Transpose') {
      const perm = p.attributes.get('perm')?.ints;
      const a = perm && axis < 0 ? axis + perm.length : axis;
      return perm && a >= 0 && a < perm.length ? this.dim(p.inputs[0], perm[a], depth + 1) : undefined;
    }
    if (p.opType === 'Reshape') {
      const shape = this.shape(p.inputs[1]);
      const e = shape?.[axis < 0 ? axis + shape.length : axis];
      if (typeof e === 'string') return this.scalar(e);
      return e !== undefined && e > 0 ? e : undefined;
    }
    if (p.opType === 'Conv' && axis === 1) {
      const w = this.model.initializers.get(p.inputs[1]);
      return w && w.dims.length >= 3 && w.dims[0] > 0 ? w.dims[0] : undefined;
    }
    if (['Add', 'Sub', 'Mul', 'Div'].includes(p.opType) && axis >= 0) {
      // Broadcasting: a known size over 1 is the result's. Stored operands (biases, scales) are skipped:
      // their rank may be lower, which shifts non-negative axes.
      const known = p.inputs.filter((i) => !this.model.initializers.has(i)).map((i) => this.dim(i, axis, depth + 1));
      const big = known.filter((d): d is number => d !== undefined && d > 1);
      if (big.length > 0 && big.every((d) => d === big[0])) return big[0];
    }
    return undefined;
  }

  /** The elements of a 1-D shape tensor: numbers, or the name of the scalar tensor a dynamic entry comes from. */
  shape(t: string): (number | string)[] | undefined {
    const init = this.model.initializers.get(t);
    if (init) return init.values ? [...init.values] : undefined;
    const p = this.producer.get(t);
    if (!p || p.domain !== '') return undefined;
    if (p.opType === 'Constant') {
      const v = p.attributes.get('value')?.t?.values ?? p.attributes.get('value_ints')?.ints;
      return v ? [...v] : undefined;
    }
    if (p.opType !== 'Concat' || (p.attributes.get('axis')?.i ?? 0) !== 0) return undefined;
    const out: (number | string)[] = [];
    for (const input of p.inputs) {
      const part = this.constValues(input);
      if (part) {
        out.push(...part);
        continue;
      }
      const u = this.op(input, 'Unsqueeze');
      if (!u) return undefined;
      out.push(u.inputs[0]);
    }
    return out;
  }

  private constValues(t: string): readonly number[] | undefined {
    const init = this.model.initializers.get(t);
    if (init) return init.values;
    const p = this.op(t, 'Constant');
    return p?.attributes.get('value')?.t?.values ?? p?.attributes.get('value_ints')?.ints;
  }

  /** A projection's weight (MatMul by a stored 2-D matrix, possibly + bias or × scalar) behind `t`. */
  projectionWeight(t: string): { dataType: number; columns: number } | undefined {
    for (let depth = 0; depth < 3; depth++) {
      const p = this.producer.get(t);
      if (p && p.domain === CONTRIB_DOMAIN && p.opType === 'DynamicQuantizeMatMul') {
        // int8 weights (precision.ts), float32 output.
        const w = this.model.initializers.get(p.inputs[1]);
        return w && w.dims.length === 2 ? { dataType: 1, columns: w.dims[1] } : undefined;
      }
      if (!p || p.domain !== '') return undefined;
      if (p.opType === 'MatMul') {
        // A stored matrix, or one stored in another type and Cast on load (float16 weights, float32 compute),
        // possibly kept [out, in] behind a Transpose (perm [1, 0]; a converted checkpoint's linear weights).
        const transpose = this.op(p.inputs[1], 'Transpose');
        const perm = transpose?.attributes.get('perm')?.ints;
        if (transpose && perm !== undefined && (perm.length !== 2 || perm[0] !== 1 || perm[1] !== 0)) return undefined;
        const matrix = transpose ? transpose.inputs[0] : p.inputs[1];
        const cast = this.op(matrix, 'Cast');
        const w = this.model.initializers.get(cast ? cast.inputs[0] : matrix);
        if (!w || w.dims.length !== 2) return undefined;
        return { dataType: cast ? (cast.attributes.get('to')?.i ?? 0) : w.dataType, columns: transpose ? w.dims[0] : w.dims[1] };
      }
      if (p.opType !== 'Add' && p.opType !== 'Mul') return undefined;
      const next = p.inputs.find((i) => this.producer.get(i)?.opType === 'MatMul' || this.producer.get(i)?.opType === 'Mul');
      if (!next) return undefined;
      t = next;
    }
    return undefined;
  }

  private bindHeadSizes(): void {
    const conflicting = new Set<string>();
    for (const n of this.model.nodes) {
      if (n.opType !== 'Reshape' || n.domain !== '') continue;
      const shape = this.shape(n.inputs[1]);
      if (!shape || shape.length !== 4 || typeof shape[2] !== 'number' || typeof shape[3] !== 'string') continue;
      const w = this.projectionWeight(n.inputs[0]);
      if (!w || shape[2] <= 0 || w.columns % shape[2] !== 0) continue;
      const d = w.columns / shape[2];
      const tensor = shape[3];
      if (this.bindings.has(tensor) && this.bindings.get(tensor) !== d) conflicting.add(tensor);
      this.bindings.set(tensor, d);
    }
    for (const t of conflicting) this.bindings.delete(t);
  }
}

interface Traced {
  /** The [B, S, H·D] (or [B, S, C]) tensor the path starts from. */
  readonly source: string;
  /** Net permutation from the head-split tensor (or the source, without one) to the path's end. */
  readonly perm: readonly number[] | undefined;
  /** The head-split Reshape's shape, if the path has one. */
  readonly split: readonly (number | string)[] | undefined;
  readonly scale: number;
  readonly nodes: readonly EditableNode[];
  /** Set when the walk stopped at a tensor something else also reads. */
  readonly sharedAt: string | undefined;
}

/** Walks back from the tensor a MatMul reads, through Transposes, scalar Mul/Div and one Reshape. */
function tracePath(g: AttentionGraph, start: string): Traced {
  let t = start;
  let perm: number[] | undefined;
  let split: (number | string)[] | undefined;
  let scale = 1;
  const nodes: EditableNode[] = [];
  let sharedAt: string | undefined;
  for (let steps = 0; steps < 16; steps++) {
    const p = g.producer.get(t);
    if (!p || p.domain !== '') break;
    const scaleStep = p.opType === 'Mul' || p.opType === 'Div';
    if (!scaleStep && (split || (p.opType !== 'Transpose' && p.opType !== 'Reshape'))) break;
    if (g.use(t) !== 1) {
      sharedAt = t;
      break;
    }
    if (p.opType === 'Transpose') {
      const q = p.attributes.get('perm')?.ints;
      if (!q || (perm && perm.length !== q.length)) break;
      perm = perm ? perm.map((i) => q[i]) : [...q];
      t = p.inputs[0];
    } else if (p.opType === 'Reshape') {
      const shape = g.shape(p.inputs[1]);
      if (!shape || shape.length !== 4) break;
      split = shape;
      t = p.inputs[0];
    } else {
      const b = g.scalar(p.inputs[1]);
      const a = p.opType === 'Mul' ? g.scalar(p.inputs[0]) : undefined;
      if (b !== undefined) {
        scale = p.opType === 'Mul' ? scale * b : scale / b;
        t = p.inputs[0];
      } else if (a !== undefined) {
        scale *= a;
        t = p.inputs[1];
      } else break;
    }
    nodes.push(p);
  }
  return { source: t, perm, split, scale, nodes, sharedAt };
}

function samePerm(perm: readonly number[] | undefined, expected: readonly number[]): boolean {
  const p = perm ?? expected.map((_, i) => i);
  return p.length === expected.length && p.every((v, i) => v === expected[i]);
}

/** The fusion for the attention around `softmax`, or why there is none. */
export function matchAttention(g: AttentionGraph, softmax: EditableNode, label: string): Fusion | string {
  const probs = softmax.outputs[0];
  if (g.use(probs) !== 1) return 'the softmax output has other consumers (or is a graph output)';
  const consumer = g.model.nodes.find((n) => n.inputs.includes(probs));
  if (!consumer || consumer.opType !== 'MatMul' || consumer.domain !== '' || consumer.inputs[0] !== probs) {
    return 'the softmax output does not feed MatMul(probabilities, V)';
  }
  const pv = consumer;

  // Scores: scalar Mul/Div between MatMul(Q, Kᵀ) and the Softmax.
  let scoreScale = 1;
  const scoreNodes: EditableNode[] = [];
  let t = softmax.inputs[0];
  let qk: EditableNode | undefined;
  for (let steps = 0; steps < 8 && !qk; steps++) {
    if (g.use(t) !== 1) return `the attention scores '${t}' have other consumers`;
    const p = g.producer.get(t);
    if (!p || p.domain !== '') return 'the softmax input is not MatMul(Q, Kᵀ)';
    if (p.opType === 'MatMul') qk = p;
    else if (p.opType === 'Mul' || p.opType === 'Div') {
      const b = g.scalar(p.inputs[1]);
      const a = p.opType === 'Mul' ? g.scalar(p.inputs[0]) : undefined;
      if (b !== undefined) {
        scoreScale = p.opType === 'Mul' ? scoreScale * b : scoreScale / b;
        t = p.inputs[0];
      } else if (a !== undefined) {
        scoreScale *= a;
        t = p.inputs[1];
      } else return `the scores are scaled by '${p.inputs[1]}', which is not a constant scalar`;
      scoreNodes.push(p);
    } else return `the softmax input comes from ${p.opType}, not MatMul(Q, Kᵀ) (an additive mask or bias is not fused)`;
  }
  if (!qk) return 'the softmax input is not MatMul(Q, Kᵀ)';

  const q = tracePath(g, qk.inputs[0]);
  const k = tracePath(g, qk.inputs[1]);
  const v = tracePath(g, pv.inputs[1]);
  const multiHead = q.split !== undefined || k.split !== undefined || v.split !== undefined;
  const rank = multiHead ? 4 : 3;
  const axis = softmax.attributes.get('axis')?.i ?? (g.opset >= 13 ? -1 : 1);
  if (axis !== -1 && axis !== rank - 1) return `softmax over axis ${axis}, not the last axis`;
  const shared = [q, k, v].find((p) => p.sharedAt !== undefined)?.sharedAt;

  let heads = 1;
  let final: string;
  const tail: EditableNode[] = [];
  if (multiHead) {
    if (!q.split || !k.split || !v.split) {
      return shared ? `'${shared}' has other consumers` : 'Q, K and V are not all split into heads by a Reshape';
    }
    if (!samePerm(q.perm, [0, 2, 1, 3]) || !samePerm(k.perm, [0, 2, 3, 1]) || !samePerm(v.perm, [0, 2, 1, 3])) {
      return shared ? `'${shared}' has other consumers` : 'the head transposes are not Q, V [0,2,1,3] and K [0,2,3,1]';
    }
    const h = [q.split[2], k.split[2], v.split[2]];
    if (typeof h[0] !== 'number' || h[0] <= 0 || h.some((x) => x !== h[0])) return 'the head count is not one constant shared by Q, K and V';
    heads = h[0];
    if (typeof q.split[3] === 'number' && typeof k.split[3] === 'number' && q.split[3] !== k.split[3]) return 'Q and K head sizes differ';
    // Merge heads: MatMul → Transpose [0,2,1,3] → Reshape [B, S, H·Dv].
    const o = pv.outputs[0];
    if (g.use(o) !== 1) return `the attention output '${o}' has other consumers`;
    const tr = g.model.nodes.find((n) => n.inputs[0] === o);
    if (!tr || tr.opType !== 'Transpose' || !samePerm(tr.attributes.get('perm')?.ints, [0, 2, 1, 3])) {
      return 'the attention output is not transposed back to [B, S, H, D]';
    }
    if (g.use(tr.outputs[0]) !== 1) return `'${tr.outputs[0]}' has other consumers`;
    const rs = g.model.nodes.find((n) => n.inputs[0] === tr.outputs[0]);
    const merged = rs && rs.opType === 'Reshape' ? g.shape(rs.inputs[1]) : undefined;
    if (!rs || !merged || merged.length !== 3) return 'the heads are not merged back by a Reshape to [B, S, H·D]';
    const vWeight = g.projectionWeight(v.source);
    if (typeof merged[2] === 'number' && merged[2] !== -1 && vWeight && merged[2] !== vWeight.columns) {
      return `the heads are merged to width ${merged[2]}, not V's ${vWeight.columns}`;
    }
    tail.push(tr, rs);
    final = rs.outputs[0];
  } else {
    if (!samePerm(q.perm, [0, 1, 2]) || !samePerm(k.perm, [0, 2, 1]) || !samePerm(v.perm, [0, 1, 2])) {
      return shared ? `'${shared}' has other consumers` : 'Q, K, V layouts are not [B, S, C] with K transposed [0,2,1]';
    }
    final = pv.outputs[0];
  }

  // The CPU kernel is float32 only; the projection weights tell the element type.
  const types = [q, k, v].map((p) => g.projectionWeight(p.source)?.dataType).filter((d): d is number => d !== undefined);
  if (types.length === 0) return 'cannot tell the element type (Q, K, V are not MatMul projections of stored weights)';
  if (types.some((d) => d !== 1)) return `element type ${types.find((d) => d !== 1)} (onnxruntime's CPU MultiHeadAttention is float32 only)`;

  const scale = q.scale * k.scale * scoreScale;
  if (!Number.isFinite(scale) || scale === 0) return `the attention scale ${scale} is not usable`;
  const removed = [...q.nodes, ...k.nodes, ...v.nodes, ...scoreNodes, qk, softmax, pv, ...tail];
  const node: NewNode = {
    name: `${softmax.name || final}/MultiHeadAttention`,
    opType: 'MultiHeadAttention',
    domain: CONTRIB_DOMAIN,
    inputs: [q.source, k.source, v.source],
    outputs: [final],
    attributes: [
      { name: 'num_heads', i: heads },
      { name: 'scale', f: scale },
    ],
  };
  return { label, node, anchor: removed.reduce((a, b) => (b.index > a.index ? b : a)), removed };
}
