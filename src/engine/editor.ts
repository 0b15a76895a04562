// The engine's public entry for the editor: what the VS Code extension may use in its own process —
// scene language, model configs, metadata readers, diffs, output paths and the render worker's client.
// Nothing here loads onnxruntime or sharp: rendering runs in the worker process (worker/renderWorker.ts).
// src/extension imports the engine only through this file (enforced by eslint.config.mjs).
export { CancelledError, InputError, ModelError, SceneError, formatDiagnostic, type SceneDiagnostic, type Severity, type SourcePosition, type SourceRange } from './errors';
export { parseScene, hasErrors, type ParsedScene } from './scene/parseScene';
export { analyzeScene, type ResolveContext, type SceneAnalysis } from './scene/resolveScene';
export { isInside } from './scene/checkScene';
export { SCENE_DEFAULTS, SCENE_KEYS } from './scene/sceneSpec';
export { TUNING_OPTIONS, tuningOption, type TuningOption } from './scene/sceneOptions';
export { LineIndex } from './scene/sourceRange';
export { sceneOutputPath, expandOutputPattern, checkOutputPattern, hintOutputPath, variantOutputPath, DEFAULT_OUTPUT_PATTERN, OUTPUT_PATTERN_VARIABLES, type OutputPatternVariable } from './scene/outputPaths';
export { readModelConfig, type ModelConfig, type ModelLocation } from './model/modelConfig';
export { readImageMetadataFile, type ImageMetadataReport } from './interop/readImageMetadata';
export type { ImageMetadata, MetadataSource } from './interop/imageMetadata';
export type { JsonValue } from './interop/parseJsonLossless';
export { sceneFromMetadata } from './interop/sceneFromMetadata';
export { parseSafetensorsHeaderJson, readSafetensors, SafetensorsError } from './lora/safetensors';
export { diffImages, type PixelImage } from './diff/imageDiff';
export { recipeDiff } from './diff/recipeDiff';
export type { FreshnessState } from './render/freshness';
export { RenderWorkerClient, WorkerCrashedError, deserializeError, type WorkerProgress, type RenderWorkerClientOptions } from './worker/RenderWorkerClient';
export type { WorkerRenderRequest, WorkerRenderResult, WorkerJobResult, WorkerSceneContext } from './worker/protocol';
export { DEFAULT_DISCLOSURE_TEMPLATE, DEFAULT_CAPTION_TEMPLATE, DEFAULT_DISCLOSURE_MARKER, formatDisclosure, hasDisclosure, isoDate, templateProblems, type DisclosureFacts } from './disclosure/disclosureText';
export { findMarkdownImages, findHtmlImages, localImagePath, sceneCandidates, imageLink, type MarkdownImage } from './disclosure/markdownImages';
export { detectWatermark, type WatermarkDetection } from './watermark/detectWatermark';
export { checkDocumentText, type FigureReferenceProblem } from './disclosure/figureReferences';
