// clip_skip as AUTOMATIC1111 defines it: clip skip N conditions on hidden_states[-N] (the residual
// stream after the text encoder's last N-1 layers are skipped), passed through the final layer norm.
// Exports give only `last_hidden_state`, so the text encoder's graph is rewritten as a session variant:
// find the final layer norm above `last_hidden_state` (a LayerNormalization node, or the decomposed
// ReduceMean/Sub pattern), walk back the residual Add chain two Adds (attention, MLP) per skipped layer,
// and feed that tensor to a copy of everything between the norm's input and `last_hidden_state` — the
// norm itself with the graph's own weights, plus whatever an exporter put after it (models/tiny-shapes
// fills the positions after EOS with the EOS state). The copy then produces `last_hidden_state`; the
// original tail stays where another output reads it (`pooler_output`, gathered from the original
// last_hidden_state by Hugging Face's CLIP), so pooled embeddings keep coming from the last layer, as in
// A1111 and ComfyUI.
import { ModelError } from '../errors';
import type { OnnxModelFiles } from '../onnx/onnxModelFiles';
import { OnnxProtoError, parseOnnxModel } from '../onnx/onnxProto';
import { parseEditableModel, writeEditedModel, type EditableModel, type EditableNode, type NewNode } from '../onnx/onnxWriter';
import type { WeightPatch } from '../onnx/sessionCache';
import { indexGraph, pruneDeadNodes, renamedNode, type GraphIndex } from './graphEdit';

/** Bump when the rewrite's output changes (part of session and optimized-graph cache keys). */
const CLIP_SKIP_REWRITE_VERSION = 1;
const HIDDEN_OUTPUT = 'last_hidden_state';
/** How far above `last_hidden_state` the final layer norm may be, in nodes. */
const MAX_TAIL_SEARCH = 256;

/** The text-encoder session variant for clip skip `n` (undefined for 1: the graph as exported). */
export function clipSkipPatch(n: number): WeightPatch | undefined {
  if (n <= 1) return undefined;
  return {
    key: `clip-skip:${n}:v${CLIP_SKIP_REWRITE_VERSION}`,
    cacheable: true,
    needsWeightsInMemory: false,
    apply: (files) => applyClipSkip(files, n),
  };
}

/** The files with `last_hidden_state` computed from hidden_states[-n]. */
export function applyClipSkip(files: OnnxModelFiles, n: number): OnnxModelFiles {
  const fail = (message: string): never => {
    throw new ModelError(`cannot apply clip_skip ${n}: ${message}`, files.modelPath);
  };
  let model: EditableModel;
  try {
    model = parseEditableModel(files.modelBytes);
  } catch (error) {
    if (error instanceof OnnxProtoError) fail(`the graph cannot be read (${error.message})`);
    throw error;
  }
  const bytes = writeEditedModel(model, clipSkipEdit(model, n, fail));
  return { ...files, modelBytes: bytes, info: parseOnnxModel(bytes) };
}

/** Whether `node` normalizes `tensor`: a LayerNormalization of it, or the mean of the decomposed form (a ReduceMean feeding Sub(tensor, mean)). */
function normalizes(node: EditableNode, tensor: string, g: GraphIndex): boolean {
  if (node.opType === 'LayerNormalization' && node.inputs[0] === tensor) return true;
  if (node.opType !== 'ReduceMean' || node.inputs[0] !== tensor) return false;
  return (g.consumers.get(node.outputs[0]) ?? []).some((s) => s.opType === 'Sub' && s.inputs[0] === tensor && s.inputs[1] === node.outputs[0]);
}

/** The input of the final layer norm: the nearest normalized tensor above `last_hidden_state`. */
function finalNormInput(model: EditableModel, g: GraphIndex, fail: (m: string) => never): string {
  const queue = [HIDDEN_OUTPUT];
  const seen = new Set(queue);
  for (let k = 0; k < queue.length && k < MAX_TAIL_SEARCH; k++) {
    const node = g.producer.get(queue[k]);
    if (!node) continue;
    const input = node.inputs[0];
    if (input && normalizes(node, input, g)) return input;
    for (const i of node.inputs) {
      if (i && !seen.has(i) && !model.initializers.has(i)) {
        seen.add(i);
        queue.push(i);
      }
    }
  }
  return fail(`no layer norm (LayerNormalization, or ReduceMean/Sub) found above '${HIDDEN_OUTPUT}'`);
}

/** Whether tensor `a` is computed from tensor `b`. */
function dependsOn(a: string, b: string, g: GraphIndex): boolean {
  const stack = [a];
  const seen = new Set(stack);
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (t === b) return true;
    for (const i of g.producer.get(t)?.inputs ?? []) {
      if (i && !seen.has(i)) {
        seen.add(i);
        stack.push(i);
      }
    }
  }
  return false;
}

/**
 * One residual step back: `tensor` = Add(stream, branch) where the branch is computed from the stream
 * through a layer norm (pre-LN transformer). Returns the stream, or undefined when `tensor` is not such a sum.
 */
function residualInput(tensor: string, g: GraphIndex): string | undefined {
  const add = g.producer.get(tensor);
  if (!add || add.opType !== 'Add' || add.inputs.length !== 2) return undefined;
  for (const [stream, branch] of [[add.inputs[0], add.inputs[1]], [add.inputs[1], add.inputs[0]]]) {
    const normalized = (g.consumers.get(stream) ?? []).some((c) => c !== add && normalizes(c, stream, g));
    if (normalized && dependsOn(branch, stream, g)) return stream;
  }
  return undefined;
}

/** The node list with `last_hidden_state` recomputed from hidden_states[-n]. */
export function clipSkipEdit(model: EditableModel, n: number, fail: (m: string) => never): { nodes: (EditableNode | NewNode)[]; removedTensors: Set<string> } {
  if (!model.graphOutputs.includes(HIDDEN_OUTPUT)) fail(`the graph has no '${HIDDEN_OUTPUT}' output`);
  const g = indexGraph(model);
  const last = finalNormInput(model, g, fail);
  let skipped = last;
  // Step i goes from hidden_states[-i] to hidden_states[-(i + 1)]: back through layer -i's MLP residual,
  // then its attention residual. A failing first step means hidden_states[-i] is the embeddings.
  for (let i = 1; i < n; i++) {
    const mid = residualInput(skipped, g);
    if (!mid) fail(`the text encoder has ${i - 1} layer${i === 2 ? '' : 's'}, so clip_skip can be at most ${i} (hidden_states[-${i}] is the embeddings)`);
    const below = residualInput(mid!, g);
    if (!below) fail(`the attention residual of layer -${i} is not found (not a pre-norm transformer layer)`);
    skipped = below!;
  }

  // The tail: nodes on a path from the final norm's input to last_hidden_state.
  const forward = new Set<EditableNode>();
  const work = [last];
  while (work.length > 0) {
    for (const c of g.consumers.get(work.pop()!) ?? []) {
      if (forward.has(c)) continue;
      forward.add(c);
      work.push(...c.outputs.filter(Boolean));
    }
  }
  const tail = new Set<EditableNode>();
  const back = [HIDDEN_OUTPUT];
  while (back.length > 0) {
    const p = g.producer.get(back.pop()!);
    if (!p || !forward.has(p) || tail.has(p)) continue;
    tail.add(p);
    back.push(...p.inputs.filter(Boolean));
  }
  const suffix = `/clip_skip_${n}`;
  const rename = (t: string): string => (t === last ? skipped : t === HIDDEN_OUTPUT ? t : g.producer.get(t) && tail.has(g.producer.get(t)!) ? `${t}${suffix}` : t);
  const copies: NewNode[] = model.nodes.filter((node) => tail.has(node)).map((node) => renamedNode(node, rename, fail, node.name ? `${node.name}${suffix}` : ''));

  // The original last_hidden_state is renamed: nodes that read it (an exporter's pooler gathers from it)
  // keep reading the last layer's state; with no reader, its producer dies and is pruned.
  const unskipped = `${HIDDEN_OUTPUT}/unskipped`;
  const swap = (t: string): string => (t === HIDDEN_OUTPUT ? unskipped : t);
  const original = g.producer.get(HIDDEN_OUTPUT)!;
  const readers = new Set(g.consumers.get(HIDDEN_OUTPUT) ?? []);
  const lastTail = Math.max(...[...tail].map((t) => t.index));
  const nodes: (EditableNode | NewNode)[] = model.nodes.flatMap((node) => {
    let kept: EditableNode | NewNode = node;
    if (node === original || readers.has(node)) kept = renamedNode(node, swap, fail);
    return node.index === lastTail ? [kept, ...copies] : [kept];
  });
  return pruneDeadNodes(model, nodes);
}
