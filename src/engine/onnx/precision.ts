// Weight-precision variants of a component, made when its session is created (a WeightPatch):
//
// - 'int8': every MatMul whose second input is a weight matrix [K, N] becomes onnxruntime's
//   com.microsoft.DynamicQuantizeMatMul: the weights are stored as int8 with one scale per output column
//   (symmetric, round to nearest, 7-bit range ±63, see INT8_WEIGHT_MAX), the activations are quantized
//   to uint8 per call by the kernel, and a following bias Add ([N] constant) moves into the operator. On
//   CPUs with VNNI this runs the projections 2–3x faster (docs/benchmarks.md); the convolutions stay
//   float32. The weight is a float32 initializer, or a float16 one behind a Cast to float32 (a converted
//   fp16 checkpoint or diffusers folder), possibly kept [N, K] behind a Transpose(perm [1, 0]) (our
//   converter keeps linear weights in torch's layout, convert/nnOps.ts): widened, transposed to [K, N] and
//   quantized alike; the Cast and Transpose nodes nothing reads any more are dropped with the weight.
// - 'fp16' / 'bf16': every float32 weight is rounded to the nearest float16 / bfloat16 value and kept as
//   float32. The arithmetic is exactly that of an export stored in that precision and widened at load,
//   which is what onnxruntime's CPU provider does with such an export; it measures the quality cost of
//   shipping weights at half size. It buys no speed on CPU (there are no half-precision GEMM kernels
//   on x86 here). Float16 weights (behind a Cast) are float16 values already; 'bf16' rounds them to
//   bfloat16 precision in place in their float16 bits (a bfloat16-rounded float16 value is a float16
//   value again, except one at the very top of float16's range that rounds past 65504: a tensor holding
//   such a value keeps its float16 values, unrounded), so the variant is that of a bf16 export here too.
// - 'fp32': the weights as exported.
//
// The variant is deterministic (same bytes in, same bytes out), so renders with it stay reproducible bit
// for bit; it is part of the recipe.
import { ModelError } from '../errors';
import { float16BytesToFloat32, roundFloat16ToBfloat16, roundToBfloat16, roundToFloat16, transposeMatrix } from './float16';
import { initializerBytes, readInitializerBytes, usedWeightBytes, type OnnxModelFiles } from './onnxModelFiles';
import { CONTRIB_DOMAIN, OnnxProtoError, parseOnnxModel, type OnnxInitializer } from './onnxProto';
import { parseEditableModel, writeEditedModel, type EditableNode, type NewInitializer, type NewNode } from './onnxWriter';
import type { PrecisionName } from './precisionNames';
import type { WeightPatch } from './sessionCache';
import { WeightOverlay } from './weightOverlay';

export type Precision = PrecisionName;

/**
 * Version of the transforms below; part of the patch key, so a change re-creates cached graphs.
 * 2: int8 weights in ±63 instead of ±127. 3: fp16 / bf16 leave input-scaling constants (the sinusoidal
 * frequencies of timestep and time-id embeddings) in float32. 4: int8 quantizes float16 weights behind a
 * Cast (and Transpose); bf16 rounds float16 weights too.
 */
export const PRECISION_TRANSFORM_VERSION = 4;

/**
 * Largest |int8 weight|. onnxruntime's u8 × s8 GEMM on x86 CPUs without VNNI (AVX2, AVX-512 without
 * VNNI) multiplies with vpmaddubsw, which adds each pair of uint8 × int8 products into an int16 with
 * saturation: with weights up to ±127 a pair reaches 2 · 255 · 127 = 64770 and is clipped, so the
 * output depends on the CPU (measured 15 % off the operator's definition on AVX2). With ±63 a pair is
 * at most 2 · 255 · 63 = 32130 < 32767: the integer products are exact on every kernel, and a render's
 * bytes do not depend on whether the CPU has VNNI. It is the `reduce_range` of onnxruntime's
 * quantization tool, applied everywhere.
 */
export const INT8_WEIGHT_MAX = 63;

const FLOAT = 1;
const INT8 = 3;
const FLOAT16 = 10;
/** Matrices smaller than this stay float32: quantizing them saves nothing measurable. */
const MIN_QUANTIZED_ELEMENTS = 4096;
/**
 * Models with at least this many bytes of external weights get their int8 weights in an overlay file
 * (weightOverlay.ts) rather than inline: SD 1.x/2.x UNets (3.4 GB, 0.24 GB of int8) stay inline as
 * before; SDXL's (9.6 GB, ~2 GB of int8) would not fit a protobuf.
 */
const INT8_OVERLAY_MIN_EXTERNAL_BYTES = 4 * 1024 ** 3;

export interface PrecisionReport {
  readonly precision: Precision;
  /** int8: MatMuls rewritten; fp16/bf16: weight tensors rounded. */
  readonly tensors: number;
  /** int8: bias Adds folded into the quantized operator. */
  readonly biasesFolded: number;
  /** Float parameters changed. */
  readonly parameters: number;
}

export interface PrecisionResult {
  readonly files: OnnxModelFiles;
  readonly report: PrecisionReport;
}

/** Quantizes W [K, N] (row-major) per column: int8 values in ±INT8_WEIGHT_MAX and N scales, scale = max|W[:, n]| / INT8_WEIGHT_MAX. */
export function quantizeColumnsInt8(weights: Float32Array, k: number, n: number): { values: Int8Array; scales: Float32Array } {
  if (weights.length !== k * n) throw new RangeError(`quantizeColumnsInt8: ${weights.length} values do not fill [${k}, ${n}]`);
  const max = new Float64Array(n);
  for (let r = 0; r < k; r++) {
    const base = r * n;
    for (let c = 0; c < n; c++) {
      const a = Math.abs(weights[base + c]);
      if (a > max[c]) max[c] = a;
    }
  }
  const scales = new Float32Array(n);
  for (let c = 0; c < n; c++) scales[c] = max[c] > 0 && Number.isFinite(max[c]) ? max[c] / INT8_WEIGHT_MAX : 1;
  const values = new Int8Array(k * n);
  for (let r = 0; r < k; r++) {
    const base = r * n;
    for (let c = 0; c < n; c++) {
      const q = roundHalfEven(weights[base + c] / scales[c]);
      values[base + c] = q > INT8_WEIGHT_MAX ? INT8_WEIGHT_MAX : q < -INT8_WEIGHT_MAX ? -INT8_WEIGHT_MAX : q;
    }
  }
  return { values, scales };
}

/** Nearest integer, ties to even (numpy's and onnxruntime's quantizers round this way). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The bytes as float32 words: a view when they are 4-byte aligned, else a copy (inline raw_data need
 * not be aligned). `copied` says which, so a writer can put its changes back.
 */
function float32Words(bytes: Uint8Array): { words: Uint32Array; copied: boolean } {
  if (bytes.byteOffset % 4 === 0) return { words: new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2), copied: false };
  return { words: new Uint32Array(new Uint8Array(bytes).buffer), copied: true };
}

function floatView(bytes: Uint8Array): Float32Array {
  const { words } = float32Words(bytes);
  return new Float32Array(words.buffer, words.byteOffset, words.length);
}

function rethrowProto(error: unknown, files: OnnxModelFiles, what: string): never {
  if (!(error instanceof OnnxProtoError)) throw error;
  const e = new ModelError(`the model could not be read to make its ${what} variant: ${error.message} at byte ${error.offset}`, files.modelPath);
  e.cause = error;
  throw e;
}

/** Ops that only move or reshape values: a tensor computed through them from a graph input is still that input. */
const PASS_THROUGH = new Set(['Unsqueeze', 'Squeeze', 'Reshape', 'Expand', 'Cast', 'Flatten', 'Identity']);

/**
 * Float constants that multiply a graph input directly (through reshapes only): the sinusoidal
 * frequencies of a timestep or time-id embedding, as our converter writes them (torch keeps them as
 * in-graph arithmetic). They are not learned weights: diffusers computes them in float32 even for a
 * half-precision model, and rounding them shifts the phase by up to value × frequency × 2⁻¹¹ (2⁻⁸ for
 * bfloat16), which SDXL's time ids (original and target sizes up to 1024 and beyond) turn into wrong
 * embeddings. They stay float32.
 */
export function inputScaleConstants(info: OnnxModelFiles['info']): Set<string> {
  const producer = new Map<string, (typeof info.nodes)[number]>();
  for (const node of info.nodes) for (const out of node.outputs) producer.set(out, node);
  const inputs = new Set(info.inputs);
  const fromInput = (name: string, depth = 0): boolean => {
    if (inputs.has(name)) return true;
    const node = producer.get(name);
    return depth < 8 && node !== undefined && node.domain === '' && PASS_THROUGH.has(node.opType) && fromInput(node.inputs[0], depth + 1);
  };
  const floats = new Set(info.initializers.filter((i) => i.dataType === FLOAT).map((i) => i.name));
  const kept = new Set<string>();
  for (const node of info.nodes) {
    if (node.opType !== 'Mul' || node.domain !== '' || node.inputs.length !== 2) continue;
    const [a, b] = node.inputs;
    if (floats.has(b) && fromInput(a)) kept.add(b);
    else if (floats.has(a) && fromInput(b)) kept.add(a);
  }
  return kept;
}

/**
 * Rounds every float32 weight to float16 or bfloat16 precision, in copies of the buffers that hold them
 * (or in place); for 'bf16' also the float16 weights. Only ever in memory: the files on disk (which may
 * be hard links to the user's checkpoint) are never written.
 */
function roundWeights(files: OnnxModelFiles, precision: 'fp16' | 'bf16', inPlace: boolean): PrecisionResult {
  const kept = inputScaleConstants(files.info);
  const rounded = (i: OnnxInitializer) => i.dataType === FLOAT || (precision === 'bf16' && i.dataType === FLOAT16);
  const targets = files.info.initializers.filter((i) => rounded(i) && i.data.kind !== 'typed' && !kept.has(i.name));
  const touchedExternal = new Set(targets.flatMap((i) => (i.data.kind === 'external' ? [i.data.location] : [])));
  const out: OnnxModelFiles = inPlace
    ? files
    : {
        ...files,
        modelBytes: targets.some((i) => i.data.kind === 'raw') ? new Uint8Array(files.modelBytes) : files.modelBytes,
        externalData: files.externalData.map((f) => (touchedExternal.has(f.location) && f.data ? { ...f, data: new Uint8Array(f.data) } : f)),
      };
  let parameters = 0;
  const round = precision === 'fp16' ? roundToFloat16 : roundToBfloat16;
  for (const init of targets) {
    const bytes = initializerBytes(out, init)!;
    if (init.dataType === FLOAT16) {
      parameters += roundFloat16ToBfloat16(bytes);
      continue;
    }
    const { words, copied } = float32Words(bytes);
    parameters += round(words);
    if (copied) bytes.set(new Uint8Array(words.buffer));
  }
  return { files: out, report: { precision, tensors: targets.length, biasesFolded: 0, parameters } };
}

/** A MatMul's weight: its initializer, whether the MatMul reads it transposed, and the nodes in between. */
interface MatMulWeight {
  readonly init: OnnxInitializer;
  readonly transposed: boolean;
  /** The Transpose and / or Cast between the initializer and the MatMul (MatMul side first). */
  readonly chain: readonly EditableNode[];
}

/**
 * The weight matrix MatMul input `input` is: a float32 initializer, or a float16 one Cast to float32,
 * either possibly behind a Transpose(perm [1, 0]); undefined for anything else.
 */
function matMulWeight(input: string, inits: ReadonlyMap<string, OnnxInitializer>, producer: ReadonlyMap<string, EditableNode>): MatMulWeight | undefined {
  const chain: EditableNode[] = [];
  let name = input;
  let transposed = false;
  const transpose = producer.get(name);
  if (transpose && transpose.opType === 'Transpose' && transpose.domain === '' && transpose.inputs.length === 1) {
    const perm = transpose.attributes.get('perm')?.ints;
    if (perm !== undefined && (perm.length !== 2 || perm[0] !== 1 || perm[1] !== 0)) return undefined;
    chain.push(transpose);
    transposed = true;
    name = transpose.inputs[0];
  }
  let cast = false;
  const castNode = producer.get(name);
  if (castNode && castNode.opType === 'Cast' && castNode.domain === '' && castNode.inputs.length === 1) {
    if (castNode.attributes.get('to')?.i !== FLOAT) return undefined;
    chain.push(castNode);
    cast = true;
    name = castNode.inputs[0];
  }
  const init = inits.get(name);
  if (!init || init.dims.length !== 2 || init.data.kind === 'typed') return undefined;
  if (init.dataType !== FLOAT && !(cast && init.dataType === FLOAT16)) return undefined;
  return { init, transposed, chain };
}

/** A weight's values as float32 [K, N] for x @ W: widened from float16, transposed where the graph transposes it. */
async function matMulWeightValues(files: OnnxModelFiles, weight: MatMulWeight): Promise<Float32Array> {
  const bytes = (await readInitializerBytes(files, weight.init))!;
  const values = weight.init.dataType === FLOAT16 ? float16BytesToFloat32(bytes) : floatView(bytes);
  return weight.transposed ? transposeMatrix(values, weight.init.dims[0], weight.init.dims[1]) : values;
}

/**
 * Rewrites weight MatMuls (float32, or float16 behind a Cast, possibly transposed) into
 * DynamicQuantizeMatMul with int8 weights. Reads each weight it quantizes (from memory, or by range from
 * its external-data file); the rest stay where they are.
 */
async function quantizeMatMuls(files: OnnxModelFiles, overlayMinExternalBytes = INT8_OVERLAY_MIN_EXTERNAL_BYTES): Promise<PrecisionResult> {
  let model;
  try {
    model = parseEditableModel(files.modelBytes);
  } catch (error) {
    rethrowProto(error, files, 'int8');
  }
  const inits = new Map<string, OnnxInitializer>(files.info.initializers.map((i) => [i.name, i]));
  const readers = new Map<string, EditableNode[]>();
  const producer = new Map<string, EditableNode>();
  for (const node of model.nodes) {
    for (const name of node.inputs) {
      const list = readers.get(name) ?? [];
      list.push(node);
      readers.set(name, list);
    }
    for (const name of node.outputs) producer.set(name, node);
  }
  const outputs = new Set(model.graphOutputs);
  const replaced = new Map<number, NewNode>(); // node index → replacement
  const dropped = new Set<number>();
  const chains = new Map<number, EditableNode>(); // Cast / Transpose nodes that may become unread
  const added: NewInitializer[] = [];
  const quantized = new Map<string, { weights: string; scales: string; init: string }>();
  // A large model's int8 weights (SDXL's UNet: ~2 GB) cannot be inline: the protobuf stops at 2 GiB. They
  // go to an overlay file as they are made, the rest of the weights staying where they are.
  // (The bytes the graph reads: a converted folder links the whole checkpoint into each component.)
  const externalBytes = files.externalData.length ? usedWeightBytes(files) - files.modelIdentity.size : 0;
  const overlay = externalBytes >= overlayMinExternalBytes && externalBytes > 0 && files.externalData.every((f) => f.data === undefined) ? new WeightOverlay() : undefined;
  const keep = (name: string, dataType: number, dims: number[], raw: Uint8Array): void => {
    if (overlay) overlay.append(name, dataType, dims, raw);
    else added.push({ name, dataType, dims, raw });
  };
  let biasesFolded = 0;
  let parameters = 0;
  for (const node of model.nodes) {
    if (node.opType !== 'MatMul' || node.domain !== '' || node.inputs.length !== 2) continue;
    const weight = matMulWeight(node.inputs[1], inits, producer);
    if (!weight) continue;
    const { init, transposed } = weight;
    const [k, n] = transposed ? [init.dims[1], init.dims[0]] : init.dims;
    if (k * n < MIN_QUANTIZED_ELEMENTS || [node.inputs[1], ...weight.chain.flatMap((c) => c.inputs)].some((t) => model.subgraphReads.has(t))) continue;
    const key = `${init.name}${transposed ? '\u0000T' : ''}`;
    let q = quantized.get(key);
    if (!q) {
      const { values, scales } = quantizeColumnsInt8(await matMulWeightValues(files, weight), k, n);
      const base = transposed ? `${init.name}_T` : init.name;
      q = { weights: `${base}_int8`, scales: `${base}_int8_scale`, init: init.name };
      keep(q.weights, INT8, [k, n], new Uint8Array(values.buffer));
      keep(q.scales, FLOAT, [n], new Uint8Array(scales.buffer));
      quantized.set(key, q);
      parameters += k * n;
    }
    for (const c of weight.chain) chains.set(c.index, c);
    // A bias Add that only this MatMul feeds: [N] float constant on either side.
    const out = node.outputs[0];
    const users = readers.get(out) ?? [];
    let bias: string | undefined;
    let result = out;
    const add = users.length === 1 && !outputs.has(out) && !model.subgraphReads.has(out) ? users[0] : undefined;
    if (add && add.opType === 'Add' && add.domain === '' && add.inputs.length === 2 && !replaced.has(add.index)) {
      const other = add.inputs[0] === out ? add.inputs[1] : add.inputs[0];
      const b = inits.get(other);
      if (b && b.dataType === FLOAT && b.dims.length === 1 && b.dims[0] === n && other !== out) {
        bias = other;
        result = add.outputs[0];
        dropped.add(add.index);
        biasesFolded++;
      }
    }
    replaced.set(node.index, {
      name: `${node.name || out}_int8`,
      opType: 'DynamicQuantizeMatMul',
      domain: CONTRIB_DOMAIN,
      inputs: bias ? [node.inputs[0], q.weights, q.scales, '', bias] : [node.inputs[0], q.weights, q.scales],
      outputs: [result],
      attributes: [],
    });
  }
  if (replaced.size === 0) {
    overlay?.close();
    return { files, report: { precision: 'int8', tensors: 0, biasesFolded: 0, parameters: 0 } };
  }
  // The Casts and Transposes that fed only quantized MatMuls go (until none is left unread), then the
  // float weights nothing reads any more (their external bytes stay unread).
  const stillReadNames = (): Set<string> => {
    const read = new Set<string>([...outputs, ...model.subgraphReads]);
    for (const node of model.nodes) {
      if (replaced.has(node.index) || dropped.has(node.index)) continue;
      for (const name of node.inputs) read.add(name);
    }
    for (const r of replaced.values()) for (const name of r.inputs) read.add(name);
    return read;
  };
  let stillRead = stillReadNames();
  for (let changed = true; changed; ) {
    changed = false;
    for (const c of chains.values()) {
      if (dropped.has(c.index) || c.outputs.some((o) => stillRead.has(o))) continue;
      dropped.add(c.index);
      changed = true;
    }
    if (changed) stillRead = stillReadNames();
  }
  const removed = new Set([...quantized.values()].map((q) => q.init).filter((name) => !stillRead.has(name)));
  const nodes = model.nodes.flatMap((node) => (dropped.has(node.index) ? [] : [replaced.get(node.index) ?? node]));
  const removedTensors = new Set([...[...replaced.keys()].map((i) => model.nodes[i].outputs[0]), ...[...chains.values()].filter((c) => dropped.has(c.index)).flatMap((c) => c.outputs)]);
  const edit = { nodes, addOpsets: [{ domain: CONTRIB_DOMAIN, version: 1 }], removedTensors, removedInitializers: removed, addedInitializers: added };
  const report = { precision: 'int8' as const, tensors: replaced.size, biasesFolded, parameters };
  if (overlay) return { files: overlay.apply(files, model, edit), report };
  const bytes = writeEditedModel(model, edit);
  let info;
  try {
    info = parseOnnxModel(bytes);
  } catch (error) {
    rethrowProto(error, files, 'int8');
  }
  return { files: { ...files, modelBytes: bytes, info }, report };
}

export interface ApplyPrecisionOptions {
  /**
   * fp16 / bf16: round in the given buffers instead of copies (for files read for this load alone, as
   * SessionCache passes them to a patch). Default false.
   */
  readonly inPlace?: boolean;
  /** int8: external weights from which the int8 weights go to an overlay file (default 4 GiB; tests lower it). */
  readonly int8OverlayMinExternalBytes?: number;
}

/**
 * The files of `files` at `precision` ('fp32' returns them as they are; nothing is modified unless
 * `inPlace`). fp16 / bf16 need the external weights in memory (readExternalData); int8 reads what it
 * quantizes and never modifies its input.
 */
export async function applyPrecision(files: OnnxModelFiles, precision: Precision, options: ApplyPrecisionOptions = {}): Promise<PrecisionResult> {
  switch (precision) {
    case 'fp32':
      return { files, report: { precision, tensors: 0, biasesFolded: 0, parameters: 0 } };
    case 'fp16':
    case 'bf16':
      return roundWeights(files, precision, options.inPlace ?? false);
    case 'int8':
      return quantizeMatMuls(files, options.int8OverlayMinExternalBytes);
  }
}

/**
 * The session patch for a precision variant, or undefined for fp32. `onReport` receives what was
 * changed each time the variant is made (not when a cached session is reused).
 */
export function precisionPatch(precision: Precision, onReport?: (report: PrecisionReport) => void): WeightPatch | undefined {
  if (precision === 'fp32') return undefined;
  return {
    key: `precision:${precision}:v${PRECISION_TRANSFORM_VERSION}`,
    cacheable: true,
    // int8 reads only the matrices it quantizes; rounding rewrites every weight, in memory.
    needsWeightsInMemory: precision !== 'int8',
    apply: async (files) => {
      // SessionCache hands a patch files read for this load alone: round them where they are.
      const { files: out, report } = await applyPrecision(files, precision, { inPlace: true });
      onReport?.(report);
      return out;
    },
  };
}
