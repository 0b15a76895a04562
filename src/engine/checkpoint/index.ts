// Weights files that are not ONNX model folders: reading their headers, telling their families apart.
export { readCheckpointHeader, PickleCheckpointError, MAX_CHECKPOINT_HEADER_BYTES, WEIGHT_FILE_EXTENSIONS, PICKLE_EXTENSIONS, type CheckpointHeader } from './checkpointHeader';
export { describeCheckpoint, checkpointSummary, type CheckpointDescription, type CheckpointFamily } from './detectCheckpoint';
export { weightsFileProblem, isWeightsFileName } from './weightsFileProblem';
export { convertCheckpoint, findTokenizer, type ConvertOptions, type ConvertProgress, type ConvertResult } from './convert/convertCheckpoint';
export { inferLdmConfigs, predictionFromYaml, type LdmConfigs } from './convert/inferLdmConfig';
