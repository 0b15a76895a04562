// The random-number generator contract of the engine: samplers and the pipeline only ever ask for
// standard-normal tensors, so seeded noise can come from any generator that can reproduce another
// tool's stream (PyTorch CPU today; GPU Philox could be added behind the same interface).

/** A seeded source of standard-normal float32 tensors. Stateful: each call continues the stream. */
export interface RNG {
  /** A stable identifier recorded in provenance, e.g. `torch-cpu-mt19937`. */
  readonly name: string;
  /** The seed the stream started from, as an unsigned 64-bit integer. */
  readonly seed: bigint;
  /** Draws `prod(shape)` standard-normal samples in row-major order, continuing the stream. */
  randn(shape: readonly number[]): Float32Array;
}
