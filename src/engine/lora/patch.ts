// Merges LoRAs into a component's weights before its session is created: for every module that
// resolves to a MatMul / Gemm / Conv weight, W += Σ (alpha / rank × weight) · up @ down, computed in
// float32 (float64 sums per row) and written back in the weight's dtype, on copies of the buffers.
// Never in the files themselves: a converted checkpoint's weights may be a hard link to the user's file.
// A weight kept [out, in] behind a Transpose (a converted checkpoint's linear layer) is patched in that
// layout (onnxTargets.ts weightLayout). Files far larger than what the graph reads from them (a hard link
// to a whole checkpoint, shared by the components) are patched by range rather than read whole.
import { InputError, throwIfAborted } from '../errors';
import { bfloat16Bits, toFloat16Bits } from '../onnx/float16';
import { initializerBytes, MAX_IN_MEMORY_FILE_BYTES, readExternalData, type OnnxModelFiles } from '../onnx/onnxModelFiles';
import { patchExternalByRange } from './rangePatch';
import type { OnnxInitializer, OnnxModelInfo } from '../onnx/onnxProto';
import type { WeightPatch } from '../onnx/sessionCache';
import { componentOfName, type LoraComponent } from './keyMapping';
import type { LoraFile, LoraModule } from './loraFile';
import { onnxWeightTargets, weightLayout, type WeightTarget } from './onnxTargets';
import { decodeTensorBytes } from './safetensors';

export interface LoraUse {
  readonly lora: LoraFile;
  /** The user's multiplier (scene `weight`); 0 disables the LoRA. */
  readonly weight: number;
}

export interface HashedLoraUse extends LoraUse {
  /** Content hash of the LoRA file; part of the patch key. */
  readonly hash: string;
}

export interface LoraPlan {
  /** Modules of this component that found their weight in the graph. */
  readonly matched: number;
  /** Modules of this component in the LoRAs. */
  readonly total: number;
  /** Module keys (as the files spell them) with no weight in the graph. */
  readonly unmatched: string[];
  /** Tensor names of this component that are not LoRA down/up pairs (LoHa, LoKr, DoRA...). */
  readonly unsupported: string[];
}

interface Resolved {
  readonly use: LoraUse;
  readonly module: LoraModule;
  readonly target: WeightTarget;
  readonly layout: 'out_in' | 'in_out';
}

function resolve(info: OnnxModelInfo, component: LoraComponent, loras: readonly LoraUse[]): { resolved: Resolved[]; plan: LoraPlan } {
  const targets = onnxWeightTargets(info);
  const resolved: Resolved[] = [];
  const unmatched: string[] = [];
  const unsupported: string[] = [];
  let total = 0;
  for (const use of loras) {
    for (const name of use.lora.unsupported) if ((componentOfName(name) ?? 'unet') === component) unsupported.push(name);
    for (const module of use.lora.modules) {
      if (module.component !== component) continue;
      total++;
      const target = targets.find(module.lookupKey);
      if (!target) {
        unmatched.push(module.key);
        continue;
      }
      const layout = weightLayout(target, module.out, module.inner);
      if (!layout) {
        throw new InputError(
          `LoRA module '${module.key}' changes a weight of shape [${module.out}, ${module.inner}] (up [${module.upShape.join(', ')}] × down [${module.downShape.join(', ')}]) ` +
            `but the model's '${target.modulePath}' weight '${target.initializer.name}' has shape [${target.initializer.dims.join(', ')}]: the LoRA was made for another base model`,
          use.lora.path,
        );
      }
      resolved.push({ use, module, target, layout });
    }
  }
  return { resolved, plan: { matched: resolved.length, total, unmatched, unsupported } };
}

/**
 * Which of the LoRAs' modules for `component` find their weight in the graph (reads no weights). Throws
 * InputError when a module's shape does not fit its weight (a LoRA for another base model).
 */
export function planLoras(info: OnnxModelInfo, component: LoraComponent, loras: readonly LoraUse[]): LoraPlan {
  return resolve(info, component, loras).plan;
}

/**
 * The weight patch merging `loras` into `component`, or undefined when none of them has a nonzero
 * weight and a module for it (so the session stays identical to the unpatched one).
 */
export function loraWeightPatch(component: LoraComponent, loras: readonly HashedLoraUse[], options: LoraPatchOptions = {}): WeightPatch | undefined {
  const active = loras.filter((l) => l.weight !== 0 && Number.isFinite(l.weight) && l.lora.modules.some((m) => m.component === component));
  if (active.length === 0) return undefined;
  const limit = options.inMemoryLimitBytes ?? LORA_IN_MEMORY_LIMIT_BYTES;
  return {
    key: `lora:${component}:${active.map((l) => `${l.hash}*${l.weight}`).join('+')}`,
    // The patch reads what it needs itself: whole files when they are small, byte ranges otherwise.
    needsWeightsInMemory: false,
    apply: async (files, signal) => {
      const external = files.externalData.reduce((n, f) => n + f.size, 0);
      const referenced = files.info.initializers.reduce((n, i) => n + (i.data.kind === 'external' ? (i.data.length ?? 0) : 0), 0);
      if (external > limit || external > 2 * referenced) return applyLoras(files, component, active, signal, { byRange: true });
      return applyLoras(await readExternalData(files), component, active, signal);
    },
  };
}

/**
 * External weights up to this size are read whole and patched in memory (fast; SD 1.5's 3.4 GB UNet);
 * larger ones (an SDXL UNet in float32, ~10 GB) are patched tensor by tensor through an overlay file.
 */
export const LORA_IN_MEMORY_LIMIT_BYTES = Math.min(MAX_IN_MEMORY_FILE_BYTES, 4 * 1024 ** 3);

export interface LoraPatchOptions {
  /** Override LORA_IN_MEMORY_LIMIT_BYTES (tests force the range path with 0). */
  readonly inMemoryLimitBytes?: number;
}

/**
 * Returns files with the LoRAs merged into copies of the touched buffers (the inputs are not modified);
 * `byRange`: external weights are read and rewritten tensor by tensor (rangePatch.ts) instead.
 */
export async function applyLoras(files: OnnxModelFiles, component: LoraComponent, loras: readonly LoraUse[], signal?: AbortSignal, options: { byRange?: boolean } = {}): Promise<OnnxModelFiles> {
  const { resolved } = resolve(files.info, component, loras.filter((l) => l.weight !== 0));
  if (resolved.length === 0) return files;
  const byInitializer = new Map<OnnxInitializer, Resolved[]>();
  for (const r of resolved) {
    const list = byInitializer.get(r.target.initializer) ?? [];
    list.push(r);
    byInitializer.set(r.target.initializer, list);
  }
  if (options.byRange) return applyByRange(files, byInitializer, loras, signal);
  // Copy each buffer that holds a patched weight, once (new Uint8Array copies; Buffer#slice would not).
  const touchedRaw = [...byInitializer.keys()].some((i) => i.data.kind === 'raw');
  const touchedExternal = new Set([...byInitializer.keys()].flatMap((i) => (i.data.kind === 'external' ? [i.data.location] : [])));
  const patched: OnnxModelFiles = {
    ...files,
    modelBytes: touchedRaw ? new Uint8Array(files.modelBytes) : files.modelBytes,
    externalData: files.externalData.map((f) => (touchedExternal.has(f.location) && f.data ? { ...f, data: new Uint8Array(f.data) } : f)),
  };
  // Read each LoRA's down/up tensors for this component in one pass over its file.
  const tensors = new Map<LoraFile, Map<string, Float32Array>>();
  for (const use of loras) {
    const names = resolved.filter((r) => r.use.lora === use.lora).flatMap((r) => [r.module.down, r.module.up]);
    if (names.length && !tensors.has(use.lora)) tensors.set(use.lora, await use.lora.file.readTensors([...new Set(names)], signal));
  }
  for (const [init, entries] of byInitializer) {
    throwIfAborted(signal);
    const bytes = initializerBytes(patched, init);
    if (!bytes) throw new InputError(`the model's weight '${init.name}' is stored in a form LoRAs cannot patch`, files.modelPath);
    mergeInto(bytes, init, entries, tensors);
  }
  return patched;
}

/** W += Σ scale · up @ down for one weight's entries, on its stored bytes. */
function mergeInto(bytes: Uint8Array, init: OnnxInitializer, entries: readonly Resolved[], tensors: ReadonlyMap<LoraFile, ReadonlyMap<string, Float32Array>>): void {
  const weights = decodeTensorBytes(bytes, dtypeName(init.dataType));
  for (const { use, module, layout } of entries) {
    const t = tensors.get(use.lora)!;
    addLowRank(weights, layout, module, t.get(module.up)!, t.get(module.down)!, (module.alpha / module.rank) * use.weight);
  }
  encodeInto(bytes, weights, init.dataType);
}

/** The range path: inline weights patched in a copy of model.onnx, external ones through an overlay file. */
async function applyByRange(files: OnnxModelFiles, byInitializer: ReadonlyMap<OnnxInitializer, Resolved[]>, loras: readonly LoraUse[], signal?: AbortSignal): Promise<OnnxModelFiles> {
  const inline = [...byInitializer.keys()].filter((i) => i.data.kind !== 'external');
  const external = [...byInitializer.keys()].filter((i) => i.data.kind === 'external');
  // One LoRA module's tensors at a time: the LoRA file is read per weight, never whole.
  const tensorsFor = async (entries: readonly Resolved[]): Promise<Map<LoraFile, Map<string, Float32Array>>> => {
    const out = new Map<LoraFile, Map<string, Float32Array>>();
    for (const use of loras) {
      const names = entries.filter((r) => r.use.lora === use.lora).flatMap((r) => [r.module.down, r.module.up]);
      if (names.length) out.set(use.lora, await use.lora.file.readTensors([...new Set(names)], signal));
    }
    return out;
  };
  let patched: OnnxModelFiles = { ...files, modelBytes: inline.length ? new Uint8Array(files.modelBytes) : files.modelBytes };
  for (const init of inline) {
    const bytes = initializerBytes(patched, init);
    if (!bytes) throw new InputError(`the model's weight '${init.name}' is stored in a form LoRAs cannot patch`, files.modelPath);
    mergeInto(bytes, init, byInitializer.get(init)!, await tensorsFor(byInitializer.get(init)!));
  }
  if (external.length) {
    patched = await patchExternalByRange(patched, external, async (init, bytes) => mergeInto(bytes, init, byInitializer.get(init)!, await tensorsFor(byInitializer.get(init)!)), signal);
  }
  return patched;
}

function dtypeName(dataType: number): string {
  if (dataType === 1) return 'F32';
  if (dataType === 10) return 'F16';
  if (dataType === 16) return 'BF16';
  throw new Error(`internal error: LoRA target of ONNX data type ${dataType}`);
}

/** weights += scale · up [out, rank] @ down [rank, inner], in torch's layout or transposed. */
function addLowRank(weights: Float32Array, layout: 'out_in' | 'in_out', module: LoraModule, up: Float32Array, down: Float32Array, scale: number): void {
  const { out, inner, rank } = module;
  const row = new Float64Array(inner);
  for (let o = 0; o < out; o++) {
    row.fill(0);
    for (let j = 0; j < rank; j++) {
      const c = scale * up[o * rank + j];
      if (c === 0) continue;
      const base = j * inner;
      for (let k = 0; k < inner; k++) row[k] += c * down[base + k];
    }
    if (layout === 'out_in') {
      const base = o * inner;
      for (let k = 0; k < inner; k++) weights[base + k] += row[k];
    } else {
      for (let k = 0; k < inner; k++) weights[k * out + o] += row[k];
    }
  }
}

/** Writes float32 values as little-endian float32 / float16 / bfloat16 (round to nearest even). */
function encodeInto(bytes: Uint8Array, values: Float32Array, dataType: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dataType === 1) {
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
    return;
  }
  if (dataType === 10) {
    for (let i = 0; i < values.length; i++) view.setUint16(i * 2, toFloat16Bits(values[i]), true);
    return;
  }
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) view.setUint16(i * 2, bfloat16Bits(bits[i]), true);
}
