// Loads the tiny ONNX fixtures under test/fixtures/onnx (built by tools/test_models/make_test_models.py)
// and their torch reference inputs/outputs.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FloatTensor } from '../../../src/engine/onnx/tensor';

export const ONNX_FIXTURES = join(__dirname, '..', '..', 'fixtures', 'onnx');

export interface ReferenceTensor {
  dtype: 'float32' | 'float16' | 'int32' | 'int64';
  dims: number[];
  data: number[];
}

export interface ReferenceFixture {
  name: string;
  dir: string;
  modelPath: string;
  component: 'text_encoder' | 'unet' | 'vae_decoder' | 'vae_encoder' | 'controlnet';
  description: string;
  tolerance: number;
  inputs: Record<string, ReferenceTensor>;
  outputs: Record<string, ReferenceTensor>;
}

export function fixture(name: string): ReferenceFixture {
  const dir = join(ONNX_FIXTURES, name);
  const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Omit<ReferenceFixture, 'name' | 'dir' | 'modelPath'>;
  return { ...ref, name, dir, modelPath: join(dir, 'model.onnx') };
}

export function allFixtures(): ReferenceFixture[] {
  return readdirSync(ONNX_FIXTURES, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => fixture(e.name))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function asFloatTensor(t: ReferenceTensor): FloatTensor {
  return { data: Float32Array.from(t.data), dims: t.dims };
}

/** Largest |a - b| over two equally shaped tensors (throws on a shape mismatch). */
export function maxAbsDiff(actual: FloatTensor, expected: ReferenceTensor): number {
  if (actual.dims.join(',') !== expected.dims.join(',')) {
    throw new Error(`shape [${actual.dims.join(', ')}] != reference [${expected.dims.join(', ')}]`);
  }
  let max = 0;
  for (let i = 0; i < expected.data.length; i++) max = Math.max(max, Math.abs(actual.data[i] - expected.data[i]));
  return max;
}
