// Typed components from the session cache: `acquireComponent(cache, 'models/x/unet', UNet)` gives a UNet
// whose session stays alive (and un-evicted) until the lease is released, typically at the end of a render.
import { throwIfAborted } from '../errors';
import { componentModelPath, nodeModelFileSystem, type ModelFileSystem } from '../onnx/onnxModelFiles';
import type { OnnxSession, OnnxSessionOptions } from '../onnx/onnxSession';
import type { SessionCache, WeightPatch } from '../onnx/sessionCache';

export interface ComponentLease<T> {
  readonly component: T;
  /** Returns the session to the cache. Idempotent. */
  release(): void;
}

export interface AcquireComponentOptions {
  readonly options?: OnnxSessionOptions;
  readonly patch?: WeightPatch;
  readonly signal?: AbortSignal;
  readonly fs?: ModelFileSystem;
}

/**
 * Locates `model.onnx` in `componentDir`, gets its session from the cache and wraps it; a graph that does
 * not fit the wrapper (wrong inputs/outputs) releases the lease and throws the wrapper's ModelError.
 */
export async function acquireComponent<T>(
  cache: SessionCache,
  componentDir: string,
  Component: new (session: OnnxSession) => T,
  acquire: AcquireComponentOptions = {},
): Promise<ComponentLease<T>> {
  throwIfAborted(acquire.signal);
  const modelPath = await componentModelPath(componentDir, acquire.fs ?? nodeModelFileSystem);
  const lease = await cache.acquire({ modelPath, options: acquire.options, patch: acquire.patch }, acquire.signal);
  try {
    return { component: new Component(lease.session), release: lease.release };
  } catch (error) {
    lease.release();
    throw error;
  }
}
