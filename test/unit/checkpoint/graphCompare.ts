// What the converter's graph tests share: running a graph file in onnxruntime and comparing its output
// with the reference export's.
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';

/** Runs the graph at `path` on `feeds` and returns its output `output`. */
export async function runGraph(path: string, feeds: Record<string, ort.Tensor>, output: string): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 4, graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  try {
    const result = await session.run(feeds);
    assert.ok(result[output], `the graph has no output '${output}' (outputs: ${session.outputNames.join(', ')})`);
    return result[output];
  } finally {
    await session.release();
  }
}

/** max |a − b| / max |b|, after checking the shapes agree and every value is finite. */
export function relativeError(actual: ort.Tensor, expected: ort.Tensor): number {
  assert.deepEqual(actual.dims, expected.dims);
  const a = actual.data as Float32Array;
  const b = expected.data as Float32Array;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    assert.ok(Number.isFinite(a[i]), `non-finite value at ${i}`);
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}
