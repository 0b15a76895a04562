// The render service: the one path every caller takes from a scene to its figures. The CLI's render,
// watch and verify, the render worker behind the editor, and the tests all plan with planRender and
// execute with executePlan through this object, which owns what they share across renders (the file-hash
// cache, the model-config cache) and the backend that makes pixels.
import { FileHashCache } from '../hash/fileHashCache';
import { ModelConfigCache } from '../model/modelConfig';
import { executePlan, renderJob, type ExecuteOptions, type JobOutcome, type RenderedJob } from './executePlan';
import { planRender, type PlanRequest, type PlanServices, type RenderPlan } from './planRender';
import type { OutputProvenance } from './OutputProvenance';
import type { BackendRenderOptions, RenderBackend } from './RenderBackend';
import type { RenderJob } from './renderJob';

export class RenderService {
  private readonly modelConfigs = new ModelConfigCache();

  constructor(
    readonly backend: RenderBackend,
    readonly hashes: FileHashCache,
    /** The engine's cache folder (converted checkpoints live there); none: single files are not converted. */
    readonly cacheDir?: string,
    /** Signs and logs every figure this service writes or renders in memory (none: recipe and XMP only). */
    readonly provenance?: OutputProvenance,
  ) {}

  /** Plans a scene (parse once, resolve, hash, output paths, freshness). See planRender. */
  plan(request: PlanRequest, signal?: AbortSignal, onConvert?: PlanServices['onConvert']): Promise<RenderPlan> {
    const loadModelConfig = request.context.loadModelConfig ?? ((dir: string) => this.modelConfigs.load(dir));
    const checkpointCacheDir = request.context.checkpointCacheDir ?? this.cacheDir;
    return planRender({ ...request, context: { ...request.context, loadModelConfig, checkpointCacheDir } }, { hashes: this.hashes, runtimeVersion: this.backend.runtimeVersion, onConvert }, signal);
  }

  /** Renders and writes what the plan needs. See executePlan; `backend` overrides this service's backend. */
  execute(plan: Pick<RenderPlan, 'jobs' | 'projectRoot'>, options: ExecuteOptions & { readonly backend?: RenderBackend } = {}): Promise<JobOutcome[]> {
    return executePlan(plan, options.backend ?? this.backend, { provenance: this.provenance, ...options });
  }

  /** Renders one job in memory (PNG bytes included); writes nothing. */
  render(job: RenderJob, options: BackendRenderOptions = {}): Promise<RenderedJob> {
    return renderJob(job, this.backend, options, this.provenance);
  }

  async dispose(): Promise<void> {
    await this.backend.dispose();
  }
}
