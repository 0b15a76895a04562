import type { ExecutionProviderSetting } from './onnx/executionProviders';
// How a process runs the engine: the one options type shared by the CLI, the render worker, the
// extension's worker configuration and the tests.

import type { ProvenanceSettings } from './provenance/FigureProvenance';

export interface EngineOptions {
  /** onnxruntime intra-op threads (default: physical cores). Part of the session cache key. */
  readonly threads?: number;
  /** Memory budget for cached sessions, in bytes (estimated from model file sizes). */
  readonly sessionBudgetBytes?: number;
  /** Folder for the persistent caches (file hashes, optimized graphs); in-memory only when absent. */
  readonly cacheDir?: string;
  /**
   * The most memory loaded models may take, in bytes. A load that would not fit (in this limit or in
   * the memory the OS reports available) fails with a ModelError saying what it needs.
   */
  readonly memoryLimitBytes?: number;
  /**
   * Provenance of written figures (C2PA signing, prompt writer, prompt log). Absent: figures carry the
   * recipe and XMP but no C2PA manifest and no log row; the CLI and the extension always pass it (on by default).
   */
  readonly provenance?: ProvenanceSettings;
  /** onnxruntime execution provider (default `cpu`); an unusable one falls back to the CPU with a warning. */
  readonly executionProvider?: ExecutionProviderSetting;
}
