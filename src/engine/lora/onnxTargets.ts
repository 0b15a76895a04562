// Finds, in an exported ONNX graph, the weight initializer of each Linear / Conv module, under its module
// path (`down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q`), so LoRA keys can be looked up.
//
// torch.onnx names nodes after the module scopes they run in (`/down_blocks.0/attentions.0/.../to_q/MatMul`)
// and names initializers after parameters, except Linear weights fed to MatMul, which it stores
// transposed ([in, out]) under names like `onnx::MatMul_123`. Scopes are not always full paths: a module
// whose forward() iterates a child ModuleList itself (`for r in block.resnets`) adds no scope, and repeated
// scopes get `_N` suffixes (`/resnets.0_1/conv2_3/Conv`). So paths are learned from the graph: every node
// that reads a parameter-named initializer (`unet.down_blocks.1.resnets.0.norm1.weight`) shows how its
// scope maps onto a full module path at that point of the graph, and anonymous weights take the full path
// of the nearest such anchor (same scope instance first, else the closest enclosing scope seen last).
// Weights reached through a Cast (float16 storage behind a Cast to float32) are followed to the initializer,
// and so are MatMul weights behind a Transpose (our checkpoint converter keeps a float16 linear weight in
// torch's [out, in] layout, as the checkpoint stores it, then Cast and Transpose; see convert/nnOps.ts):
// such a target is `transposed`, and its initializer is [out, in] although the MatMul reads [in, out] —
// which a square q/k/v matrix cannot show by its shape. A Transpose of a 2-D weight is taken as perm
// [1, 0] (the parsed graph carries no attributes; the only other permutation, [0, 1], no exporter writes).
import type { OnnxInitializer, OnnxModelInfo, OnnxNode } from '../onnx/onnxProto';

/** A weight a LoRA can patch. */
export interface WeightTarget {
  readonly initializer: OnnxInitializer;
  readonly opType: 'MatMul' | 'Gemm' | 'Conv';
  /** Which node input carries the weight (MatMul: 1 for x @ W with W [in, out], 0 for W @ x). */
  readonly weightInput: number;
  /** Dotted module path as resolved from the graph. */
  readonly modulePath: string;
  /** The initializer is named after the parameter (kept in torch's [out, in, ...] layout). */
  readonly named: boolean;
  /** The weight reaches the node through a Transpose: the initializer holds the transpose of what the node reads. */
  readonly transposed: boolean;
  readonly nodeName: string;
}

const FLOAT_TYPES = new Set([1, 10, 16]); // float, float16, bfloat16
const PATCHABLE_OPS = new Set(['MatMul', 'Gemm', 'Conv']);

/** Weights of a graph by module path, with lookup by LoRA key in underscore form. */
export class OnnxWeightTargets {
  private readonly byKey = new Map<string, { depth: number; target: WeightTarget | undefined }>();

  constructor(
    readonly targets: readonly WeightTarget[],
    /** Module paths that more than one weight resolved to (not patchable by name). */
    readonly ambiguous: readonly string[],
  ) {
    // Each path is registered in full and without leading segments (wrapper modules such as `unet.`,
    // `te.text_model.`), the shortest drop winning and ties between different weights becoming undefined.
    for (const target of targets) {
      const tokens = target.modulePath.split('.');
      for (let depth = 0; depth < tokens.length; depth++) {
        const key = tokens.slice(depth).join('_');
        const previous = this.byKey.get(key);
        if (!previous || depth < previous.depth) this.byKey.set(key, { depth, target });
        else if (depth === previous.depth && previous.target?.initializer !== target.initializer) this.byKey.set(key, { depth, target: undefined });
      }
    }
  }

  /** The weight for a module key in underscore form (`down_blocks_0_attentions_0_proj_in`), if exactly one fits. */
  find(lookupKey: string): WeightTarget | undefined {
    return this.byKey.get(lookupKey)?.target;
  }
}

const cache = new WeakMap<OnnxModelInfo, OnnxWeightTargets>();

/** The patchable weights of a graph (computed once per parsed model). */
export function onnxWeightTargets(info: OnnxModelInfo): OnnxWeightTargets {
  let targets = cache.get(info);
  if (!targets) cache.set(info, (targets = buildTargets(info)));
  return targets;
}

/** Scope segments of a node name `/a/b.0/c/Op` → ['a', 'b.0', 'c'], or undefined for unscoped names. */
function rawScope(node: OnnxNode): string[] | undefined {
  if (!node.name.startsWith('/')) return undefined;
  const parts = node.name.split('/').slice(1, -1);
  return parts.length > 0 && parts.every((p) => p !== '') ? parts : undefined;
}

/** A parameter-like initializer name (`x.y.weight`) → its module tokens, else undefined. */
function paramModule(name: string): string[] | undefined {
  if (name.startsWith('onnx::') || name.includes('/') || name.includes(':')) return undefined;
  const tokens = name.split('.');
  if (tokens.length < 2 || tokens.some((t) => t === '')) return undefined;
  return tokens.slice(0, -1);
}

/**
 * Start index in `param` of each scope segment, matching from the end (so hidden levels sit as early as
 * possible), with the last segment ending the path; undefined when the scope is not a subsequence.
 */
function align(scope: readonly string[], param: readonly string[]): number[] | undefined {
  const starts = new Array<number>(scope.length);
  let limit = param.length;
  for (let i = scope.length - 1; i >= 0; i--) {
    const tokens = scope[i].split('.');
    let found = -1;
    for (let s = limit - tokens.length; s >= 0; s--) {
      if (tokens.every((t, k) => param[s + k] === t)) {
        found = s;
        break;
      }
      if (i === scope.length - 1) break; // the module itself must end the path
    }
    if (found < 0) return undefined;
    starts[i] = found;
    limit = found;
  }
  return starts;
}

const scopeKey = (segments: readonly string[], n: number): string => (n === 0 ? '' : `/${segments.slice(0, n).join('/')}`);

function buildTargets(info: OnnxModelInfo): OnnxWeightTargets {
  const initializers = new Map(info.initializers.map((i) => [i.name, i]));
  const castOf = new Map<string, string>();
  for (const node of info.nodes) if (node.opType === 'Cast' && node.inputs.length === 1 && initializers.has(node.inputs[0])) castOf.set(node.outputs[0], node.inputs[0]);
  // Transpose of a 2-D weight (directly or behind its Cast): output → the Transpose's input.
  const transposeOf = new Map<string, string>();
  for (const node of info.nodes) {
    if (node.opType !== 'Transpose' || node.domain !== '' || node.inputs.length !== 1) continue;
    const init = initializers.get(node.inputs[0]) ?? initializers.get(castOf.get(node.inputs[0]) ?? '');
    if (init?.dims.length === 2) transposeOf.set(node.outputs[0], node.inputs[0]);
  }
  /** The value a node input is, with any Transpose of a weight undone. */
  const untransposed = (name: string): string => transposeOf.get(name) ?? name;
  const weightOf = (name: string): OnnxInitializer | undefined => {
    const value = untransposed(name);
    return initializers.get(value) ?? initializers.get(castOf.get(value) ?? '');
  };

  // Scope names with torch's `_N` repeat suffixes removed where the unsuffixed scope exists.
  const rawPrefixes = new Set<string>();
  const raw = info.nodes.map(rawScope);
  for (const parts of raw) if (parts) for (let i = 1; i <= parts.length; i++) rawPrefixes.add(`/${parts.slice(0, i).join('/')}`);
  const normalized = raw.map((parts) => {
    if (!parts) return undefined;
    const out: string[] = [];
    let rawPath = '';
    for (const part of parts) {
      const repeat = /^(.+)_\d+$/.exec(part);
      const normParent = out.length ? `/${out.join('/')}` : '';
      out.push(repeat && (rawPrefixes.has(`${rawPath}/${repeat[1]}`) || rawPrefixes.has(`${normParent}/${repeat[1]}`)) ? repeat[1] : part);
      rawPath += `/${part}`;
    }
    return out;
  });

  // Exact anchors: a scope instance whose own parameter is named (e.g. a Linear's bias in its Add node).
  const exact = new Map<string, string[]>();
  for (let n = 0; n < info.nodes.length; n++) {
    const scope = normalized[n];
    if (!scope) continue;
    for (const input of info.nodes[n].inputs) {
      const init = weightOf(input);
      const param = init && paramModule(input);
      if (param && align(scope, param)) exact.set(rawScope(info.nodes[n])!.join('/'), param);
    }
  }

  const context = new Map<string, string[]>();
  const learn = (key: string, value: string[]): void => {
    const previous = context.get(key);
    if (previous && previous.join('.') === value.join('.')) return;
    for (const k of [...context.keys()]) if (k.startsWith(`${key}/`)) context.delete(k);
    context.set(key, value);
  };

  const targets: WeightTarget[] = [];
  for (let n = 0; n < info.nodes.length; n++) {
    const node = info.nodes[n];
    const scope = normalized[n];
    // 1. Learn how scopes map onto full paths from parameter-named inputs.
    if (scope) {
      for (const input of node.inputs) {
        const param = weightOf(input) && paramModule(input);
        const starts = param && align(scope, param);
        if (!param || !starts) continue;
        learn('', param.slice(0, starts[0]));
        for (let i = 1; i < scope.length; i++) learn(scopeKey(scope, i), param.slice(0, starts[i]));
      }
    }
    // 2. Weights of MatMul / Gemm / Conv nodes.
    if (!PATCHABLE_OPS.has(node.opType)) continue;
    const candidates = node.opType === 'MatMul' ? [1, 0] : [1];
    const weightInput = candidates.find((i) => {
      const init = node.inputs[i] !== undefined ? weightOf(node.inputs[i]) : undefined;
      return init !== undefined && FLOAT_TYPES.has(init.dataType) && init.data.kind !== 'typed' && init.dims.length >= 2;
    });
    if (weightInput === undefined) continue;
    const transposed = transposeOf.has(node.inputs[weightInput]);
    const input = untransposed(node.inputs[weightInput]);
    const initializer = weightOf(input)!;
    // A weight behind a Cast (float16 storage) is named by its initializer when the Cast's output is not.
    let path = paramModule(input) ?? (castOf.has(input) ? paramModule(castOf.get(input)!) : undefined);
    const named = path !== undefined;
    if (!path && scope) {
      path = exact.get(rawScope(node)!.join('/'));
      for (let i = scope.length; !path && i >= 0; i--) {
        const prefix = context.get(scopeKey(scope, i));
        if (prefix) path = [...prefix, ...scope.slice(i).flatMap((s) => s.split('.'))];
      }
      path ??= scope.flatMap((s) => s.split('.'));
    }
    if (!path) continue;
    targets.push({ initializer, opType: node.opType as WeightTarget['opType'], weightInput, modulePath: path.join('.'), named, transposed, nodeName: node.name });
  }

  // A path claimed by two different weights is not patchable by name.
  const owners = new Map<string, OnnxInitializer>();
  const ambiguous = new Set<string>();
  for (const t of targets) {
    const owner = owners.get(t.modulePath);
    if (owner && owner !== t.initializer) ambiguous.add(t.modulePath);
    owners.set(t.modulePath, t.initializer);
  }
  const unique = targets.filter((t, i) => !ambiguous.has(t.modulePath) && targets.findIndex((u) => u.initializer === t.initializer) === i);
  return new OnnxWeightTargets(unique, [...ambiguous]);
}

/**
 * How a target's weight relates to a LoRA delta of [out, inner] (inner = in × kh × kw): 'out_in' when
 * stored like torch's parameter (also a MatMul x @ Transpose(W)), 'in_out' when transposed (MatMul
 * x @ W, or Gemm with transB = 0); undefined when the shapes do not fit.
 */
export function weightLayout(target: WeightTarget, out: number, inner: number): 'out_in' | 'in_out' | undefined {
  const dims = target.initializer.dims;
  const rest = dims.slice(1).reduce((a, b) => a * b, 1);
  if (target.opType === 'Conv') return dims[0] === out && rest === inner ? 'out_in' : undefined;
  if (dims.length !== 2) return undefined;
  const asParam = dims[0] === out && dims[1] === inner;
  const transposed = dims[0] === inner && dims[1] === out;
  if (target.opType === 'MatMul') {
    // The node reads the initializer's transpose when a Transpose sits between them.
    const readsAsStored = !target.transposed;
    if (target.weightInput === 1) return readsAsStored ? (transposed ? 'in_out' : undefined) : asParam ? 'out_in' : undefined;
    return readsAsStored ? (asParam ? 'out_in' : undefined) : transposed ? 'in_out' : undefined;
  }
  // Gemm: the graph parser does not expose transB; a parameter-named weight is torch's Linear (transB = 1).
  if (asParam && (target.named || !transposed)) return 'out_in';
  return transposed ? 'in_out' : undefined;
}
