// Builds .safetensors files byte by byte (format: huggingface/safetensors README) and small helpers
// shared by the LoRA tests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toFloat16Bits } from '../../../src/engine/onnx/float16';

export interface TensorSpec {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  values: ArrayLike<number>;
}

/** bfloat16 by truncation (the tests pick values that bfloat16 holds exactly). */
function bf16(value: number): number {
  const f = new Float32Array([value]);
  return new Uint32Array(f.buffer)[0] >>> 16;
}

/** The bytes of a safetensors file holding `tensors` back to back, in the order given. */
export function safetensorsBytes(tensors: readonly TensorSpec[], metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const t of tensors) {
    const size = t.dtype === 'F32' ? 4 : 2;
    const data = Buffer.alloc(t.values.length * size);
    for (let i = 0; i < t.values.length; i++) {
      if (t.dtype === 'F32') data.writeFloatLE(t.values[i], i * 4);
      else data.writeUInt16LE(t.dtype === 'F16' ? toFloat16Bits(t.values[i]) : bf16(t.values[i]), i * 2);
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + data.length] };
    offset += data.length;
    chunks.push(data);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([length, Buffer.from(json), ...chunks]);
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeSafetensors(dir: string, name: string, tensors: readonly TensorSpec[], metadata?: Record<string, string>): string {
  const path = join(dir, name);
  writeFileSync(path, safetensorsBytes(tensors, metadata));
  return path;
}

/** Deterministic pseudo-random values in [-scale, scale) (a 32-bit LCG). */
export function values(n: number, seed: number, scale = 1): Float32Array {
  let x = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = ((x / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}
