// Composition: a render service over the local ONNX backend, as the CLI, the render worker and the tests
// use it. Lives at the engine's top level because it joins render/ (the path) and pipeline/ (a backend).
import { FileHashCache } from './hash/fileHashCache';
import type { EngineOptions } from './options';
import { LocalOnnxBackend } from './pipeline/LocalOnnxBackend';
import { FigureProvenance } from './provenance/FigureProvenance';
import type { RenderBackend } from './render/RenderBackend';
import { RenderService } from './render/RenderService';

export async function createRenderService(options: EngineOptions = {}, backend?: RenderBackend): Promise<RenderService> {
  const hashes = await FileHashCache.open(options.cacheDir);
  const provenance = options.provenance ? new FigureProvenance(options.provenance) : undefined;
  return new RenderService(backend ?? new LocalOnnxBackend(options), hashes, options.cacheDir, provenance);
}
