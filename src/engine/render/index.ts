// The one render path: planRender → RenderPlan → executePlan (through a RenderBackend) → figures.
export { RenderService } from './RenderService';
export { planRender, type PlanRequest, type PlannedJob, type RenderPlan, type PlanServices } from './planRender';
export { executePlan, renderJob, type ExecuteEvents, type ExecuteOptions, type JobOutcome, type RenderedJob } from './executePlan';
export { judgeFreshness, type Freshness, type FreshnessState } from './freshness';
export { jobsForScene, type PortableRecipe, type RenderJob } from './renderJob';
export type { BackendRender, BackendRenderOptions, LoraReport, PreparedHint, RemoteProvenance, RenderBackend, RenderProgress } from './RenderBackend';
export type { OutputProvenance } from './OutputProvenance';
