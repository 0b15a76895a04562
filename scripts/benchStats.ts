// Shared by the benchmark and evaluation scripts: the median of a set of timings, a timed median after
// a warm-up, and a positive-integer command-line option.

/** The median (mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The median milliseconds of `count` calls of `fn`, after one untimed warm-up call. */
export async function timeMs(fn: () => Promise<unknown>, count: number): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return median(times);
}

/** `value` as a positive integer, undefined when absent; otherwise `fail` is called with the problem. */
export function positiveIntegerOption(value: string | undefined, name: string, fail: (message: string) => never): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got '${value}'`);
  return n;
}
