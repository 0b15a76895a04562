// Describes a LoRA in a hover from its .safetensors header: its recorded training metadata (kohya-ss
// `ss_*` keys) and what the tensor shapes say (rank from the `lora_down` / `lora_A` matrices). The header
// is read and validated by the engine's reader (src/engine/lora/safetensors.ts), which never reads
// tensor data; this file adapts its errors into reasons for the hover.
import { parseSafetensorsHeaderJson, readSafetensors, SafetensorsError } from '../../engine/editor';

/** Real LoRA headers are a few hundred kB at most; anything larger is not worth reading for a hover. */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;

export interface SafetensorsTensorInfo {
  dtype: string;
  shape: number[];
}

export interface SafetensorsHeader {
  fileSize: number;
  /** `__metadata__`: string → string by the format's rules (other values are kept as JSON text). */
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensorInfo>;
}

export type SafetensorsReading = { ok: true; header: SafetensorsHeader } | { ok: false; reason: string };

function reasonOf(error: unknown): string {
  if (error instanceof SafetensorsError) return error.reason.replace(/more than the limit of (\d+)$/, 'more than the $1 read for a preview');
  return error instanceof Error ? error.message : String(error);
}

function toHeader(fileSize: number, metadata: Readonly<Record<string, string>>, tensors: ReadonlyMap<string, { dtype: string; shape: readonly number[] }>): SafetensorsHeader {
  const out = new Map<string, SafetensorsTensorInfo>();
  for (const [name, t] of tensors) out.set(name, { dtype: t.dtype, shape: [...t.shape] });
  return { fileSize, metadata: { ...metadata }, tensors: out };
}

/** Parses a header whose JSON text is already in hand (`fileSize` for the bounds check of data offsets). */
export function parseSafetensorsHeader(json: string, fileSize: number): SafetensorsReading {
  const bytes = Buffer.from(json, 'utf8');
  try {
    const { metadata, tensors } = parseSafetensorsHeaderJson(bytes, Math.max(0, fileSize - 8 - bytes.length), 'header', true);
    return { ok: true, header: toHeader(fileSize, metadata, tensors) };
  } catch (error) {
    return { ok: false, reason: reasonOf(error) };
  }
}

/** Reads the header of the file at `path`; every failure is a reason a user can act on, never a throw. */
export async function readSafetensorsHeader(path: string, maxHeaderBytes = MAX_HEADER_BYTES): Promise<SafetensorsReading> {
  try {
    const file = await readSafetensors(path, { maxHeaderBytes, anyDtype: true });
    return { ok: true, header: toHeader(file.fileSize, file.metadata, file.tensors) };
  } catch (error) {
    return { ok: false, reason: reasonOf(error) };
  }
}

export interface LoraSummary {
  /** From `ss_network_dim`, else the smallest dimension of the first down-projection matrix. */
  rank?: number;
  rankSource?: 'metadata' | 'tensors';
  alpha?: string;
  baseModel?: string;
  outputName?: string;
  trainedOn?: string;
  networkModule?: string;
  tensorCount: number;
  dtypes: string[];
  /** Modules patched: UNet and/or text encoder, from kohya (`lora_unet_`, `lora_te_`) or PEFT (`unet.`, `text_encoder.`) names. */
  targets: string[];
}

const DOWN = /(lora_down|lora_A|lora\.down)\.weight$/;

/** The facts a hover shows, from the kohya-ss / PEFT conventions for LoRA files. */
export function summarizeLora(header: SafetensorsHeader): LoraSummary {
  const m = header.metadata;
  const dtypes = [...new Set([...header.tensors.values()].map((t) => t.dtype))].sort();
  const names = [...header.tensors.keys()];
  const targets: string[] = [];
  if (names.some((n) => n.startsWith('lora_unet_') || n.startsWith('unet.'))) targets.push('UNet');
  if (names.some((n) => /^lora_te\d?_/.test(n) || n.startsWith('text_encoder'))) targets.push('text encoder');
  const summary: LoraSummary = { tensorCount: header.tensors.size, dtypes, targets };
  const dim = Number(m.ss_network_dim);
  if (Number.isInteger(dim) && dim > 0) {
    summary.rank = dim;
    summary.rankSource = 'metadata';
  } else {
    const down = names.find((n) => DOWN.test(n));
    const shape = down ? header.tensors.get(down)?.shape : undefined;
    if (shape && shape.length >= 2) {
      summary.rank = shape[0];
      summary.rankSource = 'tensors';
    }
  }
  if (m.ss_network_alpha) summary.alpha = m.ss_network_alpha;
  if (m.ss_base_model_version) summary.baseModel = m.ss_base_model_version;
  else if (m.ss_sd_model_name) summary.baseModel = m.ss_sd_model_name;
  if (m.ss_output_name) summary.outputName = m.ss_output_name;
  if (m.ss_sd_model_name && summary.baseModel !== m.ss_sd_model_name) summary.trainedOn = m.ss_sd_model_name;
  if (m.ss_network_module) summary.networkModule = m.ss_network_module;
  return summary;
}

function bytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

/** Markdown lines describing a LoRA file for a hover. */
export function formatLoraSummary(file: string, header: SafetensorsHeader): string {
  const s = summarizeLora(header);
  const lines = [`**LoRA** \`${file}\` — ${bytes(header.fileSize)}, ${s.tensorCount} tensors${s.dtypes.length ? ` (${s.dtypes.join(', ')})` : ''}`, ''];
  const facts: string[] = [];
  if (s.rank !== undefined) facts.push(`rank ${s.rank}${s.rankSource === 'tensors' ? ' (from the tensor shapes)' : ''}`);
  if (s.alpha) facts.push(`alpha ${s.alpha}`);
  if (s.targets.length) facts.push(`patches the ${s.targets.join(' and ')}`);
  if (facts.length) lines.push(`- ${facts.join(', ')}`);
  lines.push(`- trained base: ${s.baseModel ?? 'not recorded'}${s.trainedOn ? ` (${s.trainedOn})` : ''}`);
  if (s.outputName) lines.push(`- name: ${s.outputName}`);
  if (s.networkModule) lines.push(`- network: ${s.networkModule}`);
  return lines.join('\n');
}
