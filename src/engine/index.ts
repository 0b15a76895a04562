// Public API of the imgprompt engine: a plain Node library (never imports vscode).
export * from './errors';
export { ENGINE_VERSION } from './version';
export * from './scene/index';
export {
  readModelConfig,
  ModelConfigCache,
  controlNetDir,
  locateModel,
  isBareModelName,
  type ModelConfig,
  type ModelDefaults,
  type ModelLocation,
  type ModelLookup,
  type ModelScheduler,
  type UNetConfig,
  type VAEConfig,
  type TextEncoderConfig,
  type TokenizerConfig,
} from './model/modelConfig';
export * from './output/index';
export * from './interop/index';
export { OnnxSession, ONNXRUNTIME_VERSION, resolveSessionOptions, type OnnxSessionOptions, type OnnxValueInfo, type HostTensor, type GraphOptimizationLevel } from './onnx/onnxSession';
export { SessionCache, composePatches, type SessionRequest, type SessionLease, type WeightPatch, type SessionCacheOptions, type SessionCacheStats } from './onnx/sessionCache';
export { applyPrecision, precisionPatch, type Precision, type PrecisionReport, type PrecisionResult } from './onnx/precision';
export { acquireComponent, type ComponentLease, type AcquireComponentOptions } from './model/componentLease';
export { readOnnxModelFiles, componentModelPath, initializerBytes, usedWeightBytes, type OnnxModelFiles, type ExternalDataFile, type ModelFileSystem, type FileIdentity } from './onnx/onnxModelFiles';
export { parseOnnxModel, OnnxProtoError, type OnnxModelInfo, type OnnxInitializer, type OnnxNode, type InitializerData } from './onnx/onnxProto';
export { CLIPTextEncoder, type TextEncoderOutput } from './model/clipTextEncoder';
export { UNet, type UNetInput, type UNetResiduals } from './model/unet';
export { ControlNet, addResiduals, controlActive, type ControlNetInput } from './control/controlNet';
export * from './control/index';
export { VAEDecoder } from './model/vaeDecoder';
export { VAEEncoder, type VAEEncodeOptions } from './model/vaeEncoder';
export { floatTensor, elementCount, type FloatTensor } from './onnx/tensor';
export { float32ToFloat16, float16ToFloat32 } from './onnx/float16';
export { physicalCoreCount } from './onnx/cpuCores';
export { sha256File, sha256Hex } from './hash/sha256File';
export { FileHashCache, HASH_CACHE_FILE_NAME, type FileHashCacheStats } from './hash/fileHashCache';
export { hashModelFolder, listModelFiles, combineFileHashes, shortHash, type ModelHash, type HashedFile } from './hash/modelHash';
export { loadImageRGB, loadImageTensor, type LoadImageOptions, type ResizeFit } from './image/loadImage';
export { imageTensorToRGB, rgbToImageTensor, type RGBImage } from './image/rgbImage';
export { latentToPreviewRGB, fitLatentRGBFactors, SD15_LATENT_RGB_FACTORS, type LatentRGBFactors } from './image/latentPreview';
export { TorchCPUGenerator, PhiloxGenerator, normalizeSeed, type RNG } from './rng/index';
export { CLIPTokenizer, loadCLIPTokenizer, CLIP_CONTEXT_LENGTH, normalizeCLIPText, type TokenizedPrompt, type CLIPTokenizerFiles } from './tokenizer/index';
export {
  createScheduler,
  parseSchedulerConfig,
  img2imgStartIndex,
  SCHEDULES_OF,
  type Scheduler,
  type SchedulerRun,
  type SchedulerOptions,
  type StepOutput,
  type SigmaSchedule,
  type SchedulerConfig,
} from './schedulers/index';
export * from './pipeline';
export * from './render/index';
export * from './provenance/index';
export * from './licence/index';
export { createRenderService } from './createRenderService';
export type { EngineOptions } from './options';
export { familyOf, MODEL_FAMILIES, type ModelFamily, type Conditioning } from './model/families';
export { readFileBounded, READ_CAPS } from './io/readBounded';
export * from './worker';
export * from './diff/index';
export * from './lora/index';
export { escapeTerminalText, escapeTerminalJson, type TerminalTextOptions } from './text/terminalText';
export * from './checkpoint/index';
export * from './hub/index';
export * from './backends/index';
export { EXECUTION_PROVIDERS, PLATFORM_PROVIDERS, isExecutionProviderSetting, selectExecutionProvider, type ExecutionProviderSetting, type ExecutionProviderName, type ProviderEnvironment, type ProviderSelection } from './onnx/executionProviders';
export * from './watermark/index';
export * from './disclosure/index';
