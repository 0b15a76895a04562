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
export { parseHubRef, hubRefKey, looksLikeHubRef, type HubRef, type HfRef } from './hub/hubRef';
export { hubCacheDir, findCachedHfRef, type HubLookup } from './hub/hubCache';
export { hubSettingsFromEnv, type HubSettings } from './hub/hubSettings';
export { pullSceneModels, type PulledScene } from './hub/pullSceneModels';
export type { PullProgress } from './hub/pullHf';
export { readLockfile, LOCKFILE_NAME, type Lockfile, type LockEntry } from './hub/lockfile';
export { findCachedCivitaiVersion } from './hub/pullCivitai';
export { explicitEmbeddingSpans } from './prompt/embeddingNames';
export { lockLocalFiles } from './hub/lockLocalFiles';
export { sceneLocalFiles } from './scene/sceneHubRefs';
export { lookupCivitaiByHash, autoV2, type CivitaiVersion } from './hub/civitai';
export { sceneHubRefs, projectHubLookup } from './scene/sceneHubRefs';
// Types only: the C2PA library itself loads in the render worker (RenderWorkerClient.readC2pa).
export type { C2paReport, C2paIngredientNode, C2paState } from './provenance/readC2pa';
export { describeLicence, diagnosticsForLicences, licenceDiagnostics, sceneLicences, sceneLicence, componentLicence, knownLicences, readModelLicence, readFileLicence, type ComponentLicence, type LicenceReading } from './licence/index';
export { PROMPT_LOG_PATH } from './provenance/promptLog';
export { EXECUTION_PROVIDERS, isExecutionProviderSetting, type ExecutionProviderSetting } from './onnx/executionProviders';
export { DEFAULT_DISCLOSURE_TEMPLATE, DEFAULT_CAPTION_TEMPLATE, DEFAULT_DISCLOSURE_MARKER, formatDisclosure, hasDisclosure, isoDate, templateProblems, type DisclosureFacts } from './disclosure/disclosureText';
export { findMarkdownImages, findHtmlImages, localImagePath, sceneCandidates, imageLink, type MarkdownImage } from './disclosure/markdownImages';
export { detectWatermark, type WatermarkDetection } from './watermark/detectWatermark';
export type { WatermarkFinding } from './worker/protocol';
export { checkDocumentText, type FigureReferenceProblem } from './disclosure/figureReferences';
export { parseLabelSetting, type LabelSetting } from './watermark/labelSetting';
export { checkFigureReferences, findDocuments } from './disclosure/figureReferences';
export { globToRegExp } from './text/globPattern';
