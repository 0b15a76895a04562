// ConditioningServices over a plain SessionCache, for calling a model family's encodePrompt in tests as
// LocalOnnxBackend does (no prompt cache: every call encodes).
import { join } from 'node:path';
import type { ConditioningServices } from '../../../src/engine/model/families';
import { acquireComponent, type ComponentLease } from '../../../src/engine/model/componentLease';
import { readModelConfig, type ModelConfig } from '../../../src/engine/model/modelConfig';
import { SessionCache } from '../../../src/engine/onnx/sessionCache';
import { loadCLIPTokenizer } from '../../../src/engine/tokenizer';
import { loadTextualInversion } from '../../../src/engine/model/textualInversion';

export const TINY_MODEL_DIR = join(__dirname, '..', '..', '..', 'models', 'tiny-shapes');

export interface EncoderServices {
  readonly model: ModelConfig;
  readonly cache: SessionCache;
  readonly services: ConditioningServices;
  /** The keys `cached` was asked for, in order. */
  readonly keys: string[];
  release(): Promise<void>;
}

export function encoderServices(modelDir = TINY_MODEL_DIR): EncoderServices {
  const model = readModelConfig(modelDir);
  const cache = new SessionCache();
  const leases: ComponentLease<unknown>[] = [];
  const keys: string[] = [];
  const services: ConditioningServices = {
    async acquire(component, Type, patch) {
      const lease = await acquireComponent(cache, join(model.dir, component), Type, { patch, options: { intraOpNumThreads: 1, deterministic: true } });
      leases.push(lease);
      return lease.component;
    },
    tokenizer: (folder) => loadCLIPTokenizer(folder),
    textualInversion: (path, width, tensor) => loadTextualInversion(path, width, tensor),
    patchFor: () => undefined,
    cached: (key, encode) => {
      keys.push(key);
      return encode();
    },
    timed: (_stage, work) => work(),
  };
  return {
    model,
    cache,
    services,
    keys,
    async release() {
      for (const lease of leases) lease.release();
      await cache.clear();
    },
  };
}
