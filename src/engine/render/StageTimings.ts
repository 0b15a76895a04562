// Wall-clock time per pipeline stage for one render, plus the share spent inside onnxruntime, so the
// benchmark can report engine overhead = total − Σ onnxruntime time.

export type Stage = 'load' | 'hash' | 'tokenize' | 'textEncoder' | 'controlnet' | 'hint' | 'lora' | 'unet' | 'scheduler' | 'preview' | 'vaeEncoder' | 'vaeDecoder' | 'png' | 'c2pa' | 'write';

export interface StageTimingReport {
  /** Milliseconds per stage, summed over the render. */
  readonly stages: Readonly<Partial<Record<Stage, number>>>;
  /** Milliseconds of each UNet call, in order. */
  readonly unetCalls: readonly number[];
  /** Milliseconds spent inside onnxruntime's run(). */
  readonly onnxRuntimeMs: number;
  readonly totalMs: number;
}

export class StageTimings {
  private readonly stages: Partial<Record<Stage, number>> = {};
  private readonly unetCalls: number[] = [];
  private onnxMs = 0;
  private readonly started = performance.now();

  /** Times `work` under `stage`. */
  async time<T>(stage: Stage, work: () => Promise<T> | T): Promise<T> {
    const start = performance.now();
    try {
      return await work();
    } finally {
      this.add(stage, performance.now() - start);
    }
  }

  add(stage: Stage, ms: number): void {
    this.stages[stage] = (this.stages[stage] ?? 0) + ms;
    if (stage === 'unet') this.unetCalls.push(ms);
  }

  addOnnxRuntime(ms: number): void {
    this.onnxMs += ms;
  }

  report(): StageTimingReport {
    return { stages: { ...this.stages }, unetCalls: [...this.unetCalls], onnxRuntimeMs: this.onnxMs, totalMs: performance.now() - this.started };
  }
}
