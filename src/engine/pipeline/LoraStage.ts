// The LoRA stage of the local pipeline: opens a job's LoRA files (cached by path and content hash; tensors
// stay on disk until a patch needs them), reports which modules meet a weight of the model (from graph
// structure only; cached per model and LoRA), and makes the weight patch for each component.
import { join } from 'node:path';
import { throwIfAborted } from '../errors';
import { loadLora, loraWeightPatch, planLoras, type HashedLoraUse, type LoraComponent, type LoraFile } from '../lora/index';
import { componentModelPath, readOnnxModelFiles } from '../onnx/onnxModelFiles';
import type { OnnxModelInfo } from '../onnx/onnxProto';
import type { WeightPatch } from '../onnx/sessionCache';
import type { LoraReport } from '../render/RenderBackend';
import type { RenderJob } from '../render/renderJob';
import type { StageTimings } from '../render/StageTimings';
import { memo } from './memo';

export class LoraStage {
  /** Opened LoRA files by path and content hash. */
  private readonly files = new Map<string, Promise<LoraFile>>();
  /** Match reports by model folder and LoRA content hash (weight-independent). */
  private readonly reports = new Map<string, Omit<LoraReport, 'file' | 'weight'>>();
  /** Graph structure (no weights) of components, for LoRA matching, by component folder. */
  private readonly graphInfos = new Map<string, Promise<OnnxModelInfo>>();

  /** Opens the job's LoRA files. */
  async open(job: RenderJob, signal?: AbortSignal): Promise<HashedLoraUse[]> {
    const uses: HashedLoraUse[] = [];
    for (const [i, l] of job.recipe.loras.entries()) {
      const hash = job.metadata.loras[i].hash;
      uses.push({ lora: await memo(this.files, `${l.path}\0${hash}`, () => loadLora(l.path, signal)), weight: l.weight, hash });
    }
    return uses;
  }

  /**
   * Which modules of each LoRA find a weight in the model. Throws InputError for a LoRA whose shapes do
   * not fit (made for another base model).
   */
  async report(job: RenderJob, uses: readonly HashedLoraUse[], signal?: AbortSignal): Promise<LoraReport[]> {
    const reports: LoraReport[] = [];
    for (const [i, use] of uses.entries()) {
      const key = `${job.model.dir}\0${use.hash}`;
      let report = this.reports.get(key);
      if (!report) {
        let matched = 0;
        let total = 0;
        const unmatched: string[] = [];
        for (const component of new Set(use.lora.modules.map((m) => m.component))) {
          const modules = use.lora.modules.filter((m) => m.component === component);
          const info = job.model.components.includes(component) ? await this.graphInfo(join(job.model.dir, component), signal) : undefined;
          if (!info) {
            total += modules.length;
            unmatched.push(...modules.map((m) => m.key));
            continue;
          }
          const plan = planLoras(info, component as LoraComponent, [{ lora: use.lora, weight: 1 }]);
          matched += plan.matched;
          total += plan.total;
          unmatched.push(...plan.unmatched);
        }
        report = { matched, total, unmatched, unsupported: use.lora.unsupported };
        this.reports.set(key, report);
      }
      reports.push({ file: job.metadata.loras[i].file, weight: use.weight, ...report });
    }
    return reports;
  }

  /** The weight patch merging the LoRAs into `component`, timed under `lora` when it is applied. */
  patch(component: LoraComponent, uses: readonly HashedLoraUse[], timings: StageTimings): WeightPatch | undefined {
    const patch = loraWeightPatch(component, uses);
    if (!patch) return undefined;
    return {
      key: patch.key,
      // Merging happens only when the patched session is not cached.
      apply: async (files, signal) => {
        const start = performance.now();
        try {
          return await patch.apply(files, signal);
        } finally {
          timings.add('lora', performance.now() - start);
        }
      },
    };
  }

  private graphInfo(componentDir: string, signal?: AbortSignal): Promise<OnnxModelInfo> {
    return memo(this.graphInfos, componentDir, async () => {
      const path = await componentModelPath(componentDir);
      throwIfAborted(signal);
      return (await readOnnxModelFiles(path)).info;
    });
  }
}

/** Warnings for LoRA modules that matched nothing or are of a kind the engine does not apply. */
export function loraWarnings(reports: readonly LoraReport[]): string[] {
  const warnings: string[] = [];
  for (const r of reports) {
    if (r.matched < r.total) {
      const shown = r.unmatched.slice(0, 20).join(', ') + (r.unmatched.length > 20 ? `, … (${r.unmatched.length - 20} more)` : '');
      warnings.push(`LoRA ${r.file}: ${r.total - r.matched} of ${r.total} modules match no weight of the model and were not applied: ${shown}`);
    }
    if (r.unsupported.length > 0) warnings.push(`LoRA ${r.file}: ${r.unsupported.length} tensors of an unsupported adapter kind were not applied: ${r.unsupported.slice(0, 10).join(', ')}`);
  }
  return warnings;
}
