// Rendering: scenes → jobs → pixels and PNGs.
export { Engine, type EngineOptions, type PortableRecipe, type RenderJob, type OutputState, type OutputStatus, type RenderProgress, type RenderOptions, type RenderResult, type LoraReport, type PreparedHint } from './Engine';
export { recipeChanges, describeChange, type RecipeChange } from './recipeChanges';
export type { StageTimingReport, Stage } from './StageTimings';
