// How many threads onnxruntime should use by default: one per physical core. Hyper-threads share a core's
// vector units, so counting them only adds contention to GEMM-bound inference.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

let cached: number | undefined;

/** Physical cores from /proc/cpuinfo on Linux (distinct physical id + core id pairs), else logical CPUs. */
export function physicalCoreCount(): number {
  if (cached !== undefined) return cached;
  let count = 0;
  try {
    const cores = new Set<string>();
    let physicalId = '0';
    for (const line of readFileSync('/proc/cpuinfo', 'utf8').split('\n')) {
      const [key, value] = line.split(':').map((s) => s.trim());
      if (key === 'physical id') physicalId = value;
      else if (key === 'core id') cores.add(`${physicalId}/${value}`);
    }
    count = cores.size;
  } catch {
    // Not Linux, or /proc is hidden: fall back below.
  }
  const logical = availableParallelism();
  cached = count > 0 ? Math.min(count, logical) : logical;
  return cached;
}
