// The scene layer's public API: parse → check (files) → analyze/resolve (model) → recipe + hash.
export type { Scene, SceneSize, SceneLora, SceneControl, SceneInit, SceneLocation, SceneLocations } from './scene';
export * from './sceneSpec';
export * from './sceneOptions';
export { parseScene, hasErrors, type ParsedScene } from './parseScene';
export { checkScene, checkParsedScene, isInside, projectRef, type SceneContext, type CheckedScene, type ScenePath } from './checkScene';
export { analyzeScene, resolveScene, COMFORTABLE_AREA_RATIO, MAX_RENDER_MEGAPIXELS, type ResolveContext, type ResolvedScene, type SceneAnalysis } from './resolveScene';
export { sizeForBudget, nearestGridMultiples, type GridSize } from './megapixelBudget';
export { canonicalJson, recipeHash, recipeHashMaterial, RECIPE_FORMAT, type Recipe, type RecipeFile, type RecipeHashInputs } from './recipe';
export { nodeFileSystem, readTextBounded, realpathOfExisting, type SceneFileSystem, type EntryKind } from '../io/sceneFileSystem';
export { editDistance, didYouMean } from './didYouMean';
export { LineIndex } from './sourceRange';
export * from './outputPaths';
export { recipeChanges, describeChange, type RecipeChange } from './recipeChanges';
export { sceneHubRefs, projectHubLookup, sceneLocalFiles } from './sceneHubRefs';
