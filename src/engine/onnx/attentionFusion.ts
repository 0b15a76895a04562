// Rewrites the unfused attention that torch exports (MatMul(Q, Kᵀ) → scale → Softmax → MatMul(·, V),
// with the head split/merge Reshape/Transpose around it) into onnxruntime's com.microsoft
// MultiHeadAttention contrib operator. Its CPU kernel (float32) runs a tiled flash-attention loop when
// there is no mask or past state, so the [B, H, S, S] score tensor is never materialized: at SD 1.5's
// 512² that tensor is 1 GiB per self-attention, and the unfused chain is memory-bound.
// attentionPattern.ts finds the chains; this file plans the edit (what else dies with them) and writes
// the model. A chain is fused only when each tensor it removes has no other consumer (Shape readers
// that die with it excepted).
import { ModelError } from '../errors';
import { AttentionGraph, matchAttention, type Fusion } from './attentionPattern';
import type { OnnxModelFiles } from './onnxModelFiles';
import { CONTRIB_DOMAIN, OnnxProtoError, parseOnnxModel } from './onnxProto';
import { parseEditableModel, writeEditedModel, type EditableNode, type NewNode } from './onnxWriter';

/** Identifies this rewrite for caches keyed by in-memory graph changes; bump when the output changes. */
export const ATTENTION_FUSION_KEY = 'attention-fusion-1';

export interface SkippedAttention {
  /** Name (or output tensor) of the Softmax node that was not fused. */
  readonly node: string;
  readonly reason: string;
}

export interface AttentionFusionResult {
  /** The files to create the session from: `files` itself when nothing was fused. */
  readonly files: OnnxModelFiles;
  /** Number of attention chains replaced by MultiHeadAttention. */
  readonly fused: number;
  /** Every Softmax that was left unfused, with why. */
  readonly skipped: readonly SkippedAttention[];
}

export interface FusedModelBytes {
  /** The rewritten model, or undefined when nothing was fused. */
  readonly bytes: Uint8Array | undefined;
  readonly fused: number;
  readonly skipped: readonly SkippedAttention[];
}

/**
 * Fuses the attention of a loaded model (weights in external data stay where they are). Never modifies
 * `files`. Throws ModelError naming the file if the model bytes cannot be parsed.
 */
export function fuseAttention(files: OnnxModelFiles): AttentionFusionResult {
  let result: FusedModelBytes;
  try {
    result = fuseAttentionInModel(files.modelBytes);
  } catch (error) {
    if (!(error instanceof OnnxProtoError)) throw error;
    const e = new ModelError(`the model could not be read for attention fusion: ${error.message} at byte ${error.offset}`, files.modelPath);
    e.cause = error;
    throw e;
  }
  if (!result.bytes) return { files, fused: 0, skipped: result.skipped };
  const info = parseOnnxModel(result.bytes);
  return { files: { ...files, modelBytes: result.bytes, info }, fused: result.fused, skipped: result.skipped };
}

/** Fuses attention in ModelProto bytes. Throws OnnxProtoError on malformed bytes. */
export function fuseAttentionInModel(bytes: Uint8Array): FusedModelBytes {
  const model = parseEditableModel(bytes);
  const g = new AttentionGraph(model);
  const skipped: SkippedAttention[] = [];
  let fusions: Fusion[] = [];
  const claimed = new Set<EditableNode>();
  for (const node of model.nodes) {
    if (node.opType !== 'Softmax' || node.domain !== '') continue;
    const label = node.name || node.outputs[0] || `node ${node.index}`;
    const match = matchAttention(g, node, label);
    if (typeof match === 'string') {
      skipped.push({ node: label, reason: match });
      continue;
    }
    if (match.removed.some((n) => claimed.has(n))) {
      skipped.push({ node: label, reason: 'overlaps another fused attention' });
      continue;
    }
    for (const n of match.removed) claimed.add(n);
    fusions.push(match);
  }
  // A chain tensor may also be read by a Shape node (torch's SDPA export computes the scale from
  // Shape(Q)); that is fine when the Shape node dies with the chain, so check after planning and drop
  // the fusions whose tensors something that stays still reads.
  for (;;) {
    if (fusions.length === 0) return { bytes: undefined, fused: 0, skipped };
    const plan = planEdit(g, fusions);
    if (plan.dangling.size === 0) {
      const out = writeEditedModel(model, { nodes: plan.nodes, addOpsets: [{ domain: CONTRIB_DOMAIN, version: 1 }], removedTensors: plan.removedTensors });
      return { bytes: out, fused: fusions.length, skipped };
    }
    for (const [f, tensor] of plan.dangling) skipped.push({ node: f.label, reason: `'${tensor}' is also read outside the attention` });
    fusions = fusions.filter((f) => !plan.dangling.has(f));
  }
}

interface EditPlan {
  readonly nodes: (EditableNode | NewNode)[];
  readonly removedTensors: Set<string>;
  /** Fusions that would remove a tensor a kept node still reads, with that tensor. */
  readonly dangling: Map<Fusion, string>;
}

function planEdit(g: AttentionGraph, fusions: readonly Fusion[]): EditPlan {
  const owner = new Map<EditableNode, Fusion>();
  for (const f of fusions) for (const n of f.removed) owner.set(n, f);
  const removed = new Set<EditableNode>(owner.keys());
  const uses = new Map(g.uses);
  const dec = (t: string): void => {
    if (t) uses.set(t, (uses.get(t) ?? 0) - 1);
  };
  for (const n of removed) n.inputs.forEach(dec);
  for (const f of fusions) for (const t of f.node.inputs) uses.set(t, (uses.get(t) ?? 0) + 1);
  // Drop what only the removed chains used (shape arithmetic for the head split, scale constants).
  const work = [...removed].flatMap((n) => n.inputs);
  while (work.length > 0) {
    const t = work.pop()!;
    const p = g.producer.get(t);
    if (!p || removed.has(p) || p.outputs.some((o) => o && (uses.get(o) ?? 0) > 0)) continue;
    removed.add(p);
    p.inputs.forEach(dec);
    work.push(...p.inputs);
  }
  const anchors = new Map(fusions.map((f) => [f.anchor, f.node]));
  const nodes: (EditableNode | NewNode)[] = [];
  const dangling = new Map<Fusion, string>();
  for (const n of g.model.nodes) {
    const fused = anchors.get(n);
    if (fused) nodes.push(fused);
    else if (!removed.has(n)) {
      nodes.push(n);
      for (const i of n.inputs) {
        const f = owner.get(g.producer.get(i)!);
        if (f && !f.node.outputs.includes(i)) dangling.set(f, i);
      }
    }
  }
  const removedTensors = new Set<string>();
  for (const n of removed) for (const o of n.outputs) removedTensors.add(o);
  for (const f of fusions) removedTensors.delete(f.node.outputs[0]);
  for (const o of g.model.graphOutputs) {
    const f = owner.get(g.producer.get(o)!);
    if (f && !f.node.outputs.includes(o)) dangling.set(f, o);
  }
  return { nodes, removedTensors, dangling };
}
