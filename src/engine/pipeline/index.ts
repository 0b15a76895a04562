// The local pipeline: renders jobs on this machine through onnxruntime.
export { LocalOnnxBackend } from './LocalOnnxBackend';
export { rescaleGuided } from './denoise';
export type { StageTimingReport, Stage } from '../render/StageTimings';
