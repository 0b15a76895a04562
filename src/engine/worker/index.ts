// Running the engine off the caller's thread.
export { RenderWorkerClient, WorkerCrashedError, deserializeError, type RenderWorkerClientOptions, type WorkerProgress } from './RenderWorkerClient';
export type { WorkerRenderRequest, WorkerRenderResult, WorkerJobResult, WorkerSceneContext } from './protocol';
