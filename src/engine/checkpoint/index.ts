// Weights files that are not ONNX model folders: reading their headers, telling their families apart.
export { readCheckpointHeader, PickleCheckpointError, MAX_CHECKPOINT_HEADER_BYTES, WEIGHT_FILE_EXTENSIONS, PICKLE_EXTENSIONS, type CheckpointHeader } from './checkpointHeader';
export { describeCheckpoint, checkpointSummary, type CheckpointDescription, type CheckpointFamily } from './detectCheckpoint';
export { weightsFileVerdict, isWeightsFileName, type WeightsFileVerdict } from './weightsFileVerdict';
export { findConvertedCheckpoint, ensureConvertedCheckpoint, convertedFolder, type EnsureConvertedOptions } from './convertedCheckpoints';
export { convertCheckpoint, findTokenizer, type ConvertOptions, type ConvertProgress, type ConvertResult } from './convert/convertCheckpoint';
export { inferLdmConfigs, predictionFromYaml, type LdmConfigs } from './convert/inferLdmConfig';
export { convertDiffusersFolder, isDiffusersPipelineFolder, diffusersFolderInputs, type ConvertDiffusersOptions } from './convert/convertDiffusers';
export { buildOpenClipTextGraph, openClipTextShape, openClipTextConfig, openClipAsClipTextWeights, type OpenClipTextUse, type OpenClipTextShape, type OpenClipTextConfig } from './convert/openClipTextGraph';
