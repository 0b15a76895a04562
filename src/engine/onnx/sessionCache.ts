// Keeps onnxruntime sessions alive across renders: an LRU keyed by the component file, the session
// options and a weight-patch key (LoRA sets), within a memory budget estimated from the bytes of weights
// each graph uses of its files (a converted checkpoint's components each use part of one shared link).
// Sessions are handed out as leases; an entry evicted while leased is released when its last lease is
// returned, so eviction never pulls a session from under a running render. A hit costs a stat() per file
// (model.onnx and its external data), never a read: a file edited on disk is noticed and reloaded.
import { freemem, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { ModelError, throwIfAborted } from '../errors';
import {
  nodeModelFileSystem,
  readExternalData,
  readOnnxModelFiles,
  statIdentities,
  usedWeightBytes,
  type FileIdentity,
  type ModelFileSystem,
  type OnnxModelFiles,
} from './onnxModelFiles';
import { ATTENTION_FUSION_KEY, fuseAttention } from './attentionFusion';
import { optimizedModelKey } from './optimizedModelCache';
import { widenFloat16Weights, type WidenResult } from './widenWeights';
import { ENGINE_VERSION } from '../version';
import { ONNXRUNTIME_VERSION, OnnxSession, prepackWeightsFor, resolveSessionOptions, sessionOptionsKey, type OnnxSessionOptions, type ResolvedSessionOptions } from './onnxSession';

/** Memory kept beyond a model's weights for activations and the runtime itself. */
const MIN_HEADROOM_BYTES = 256 * 1024 * 1024;

function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
  return bytes >= 1024 ** 2 ? `${Math.round(bytes / 1024 ** 2)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

/**
 * Memory the OS can give this process. On Linux: MemAvailable (page cache that can be reclaimed
 * included) within the cgroup limit. Elsewhere the free-page count excludes reclaimable cache (macOS
 * often reports a few hundred MB free on a machine with gigabytes to spare), so only the machine's total
 * bounds a load there.
 */
function osAvailableMemory(): number {
  if (process.platform !== 'linux') return totalmem();
  return process.availableMemory?.() ?? freemem();
}

/** A modification of a component's weights (e.g. LoRAs merged in) applied before the session is created. */
export interface WeightPatch {
  /** Identifies the patch's content (e.g. LoRA content hashes and weights); part of the cache key. */
  readonly key: string;
  /**
   * Returns the files to create the session from. SessionCache reads `files` for this load alone, so a
   * patch may write into their buffers; one applied elsewhere must get files it may change.
   */
  apply(files: OnnxModelFiles, signal?: AbortSignal): OnnxModelFiles | Promise<OnnxModelFiles>;
  /**
   * The patched graph may go to the optimized-graph cache (keyed by the source files and `key`). Set
   * for variants a model has few of (a precision); not for LoRA sets, each of which would add a full
   * copy of the weights to the cache.
   */
  readonly cacheable?: boolean;
  /**
   * Default true: the external weights are read into memory before `apply` (it rewrites them in place in
   * copies). False: `apply` reads what it needs itself (readInitializerBytes) and onnxruntime reads the
   * rest from disk, so the load holds one copy of the weights fewer.
   */
  readonly needsWeightsInMemory?: boolean;
}

/** `first`, then `second` (either may be absent); cacheable only when both are. */
export function composePatches(first: WeightPatch | undefined, second: WeightPatch | undefined): WeightPatch | undefined {
  if (!first || !second) return first ?? second;
  return {
    key: `${first.key}|${second.key}`,
    cacheable: first.cacheable === true && second.cacheable === true,
    needsWeightsInMemory: first.needsWeightsInMemory !== false || second.needsWeightsInMemory !== false,
    apply: async (files, signal) => second.apply(await first.apply(files, signal), signal),
  };
}

export interface SessionRequest {
  /** Path of the component's model.onnx. */
  readonly modelPath: string;
  readonly options?: OnnxSessionOptions;
  readonly patch?: WeightPatch;
}

export interface SessionLease {
  readonly session: OnnxSession;
  /** Returns the session to the cache. Idempotent. */
  release(): void;
}

export interface SessionCacheOptions {
  /** Estimated bytes of sessions kept alive (sum of their files' sizes). Default: half the machine's memory. */
  readonly budgetBytes?: number;
  readonly fs?: ModelFileSystem;
  /**
   * Bytes of memory this process may still use. Default: what the OS reports available (the cgroup
   * limit included), capped by `memoryLimitBytes`. Tests substitute a fixed figure.
   */
  readonly availableMemory?: () => number;
  /** An upper bound on the memory sessions may take (e.g. to leave room for other programs). */
  readonly memoryLimitBytes?: number;
  /** Session factory; tests substitute one that counts or fails. */
  readonly createSession?: (files: OnnxModelFiles, options: OnnxSessionOptions) => Promise<OnnxSession>;
  /** Widened float32 bytes from which float16 weights are widened before onnxruntime loads the graph (widenWeights.ts; default WIDEN_MIN_BYTES). */
  readonly widenMinBytes?: number;
}

export interface SessionCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly entries: number;
  readonly bytes: number;
}

interface Entry {
  readonly key: string;
  ready: Promise<OnnxSession>;
  session: OnnxSession | undefined;
  files: readonly FileIdentity[];
  /** The weights the session holds (usedWeightBytes). */
  bytes: number;
  /** The model's files in full: what reading them into memory for a patch costs. */
  fileBytes: number;
  leases: number;
  /** Removed from the cache; dispose when the last lease is returned. */
  evicted: boolean;
}

export class SessionCache {
  private readonly entries = new Map<string, Entry>(); // insertion order = least recently used first
  private readonly budgetBytes: number;
  private readonly fs: ModelFileSystem;
  private readonly createSession: (files: OnnxModelFiles, options: OnnxSessionOptions) => Promise<OnnxSession>;
  private readonly widenMinBytes: number | undefined;
  private counters = { hits: 0, misses: 0, evictions: 0 };
  private readonly availableMemory: () => number;

  constructor(options: SessionCacheOptions = {}) {
    this.budgetBytes = options.budgetBytes ?? Math.floor(totalmem() / 2);
    const limit = options.memoryLimitBytes;
    const osAvailable = options.availableMemory ?? osAvailableMemory;
    this.availableMemory = () => {
      const available = osAvailable();
      if (limit === undefined) return available;
      let held = 0;
      for (const e of this.entries.values()) if (e.session) held += e.bytes;
      return Math.min(available, Math.max(0, limit - held));
    };
    this.fs = options.fs ?? nodeModelFileSystem;
    this.createSession = options.createSession ?? ((files, o) => OnnxSession.create(files, o));
    this.widenMinBytes = options.widenMinBytes;
  }

  get stats(): SessionCacheStats {
    let bytes = 0;
    for (const e of this.entries.values()) bytes += e.bytes;
    return { ...this.counters, entries: this.entries.size, bytes };
  }

  /** A session for the request: cached if its files are unchanged, else loaded (and cached). */
  async acquire(request: SessionRequest, signal?: AbortSignal): Promise<SessionLease> {
    throwIfAborted(signal);
    const modelPath = resolve(request.modelPath);
    const options = resolveSessionOptions(request.options);
    const key = `${modelPath}\n${sessionOptionsKey(options)}\n${request.patch?.key ?? ''}`;
    let entry = this.entries.get(key);
    if (entry?.session) {
      const current = await statIdentities(entry.files.map((f) => f.path), this.fs);
      const unchanged = current?.every((f, i) => f.size === entry!.files[i].size && f.mtimeMs === entry!.files[i].mtimeMs);
      if (!unchanged) {
        this.evict(entry);
        entry = undefined;
      }
    }
    if (entry) {
      this.counters.hits++;
    } else {
      this.counters.misses++;
      entry = this.load(key, modelPath, options, request.patch, signal);
    }
    // Move to the most-recently-used end.
    this.entries.delete(key);
    this.entries.set(key, entry);
    entry.leases++;
    let session: OnnxSession;
    try {
      session = await entry.ready;
    } catch (error) {
      entry.leases--;
      throw error;
    }
    return this.lease(entry, session);
  }

  /** Drops every entry; leased sessions are released when their leases are returned. */
  async clear(): Promise<void> {
    const disposals: Promise<void>[] = [];
    for (const entry of [...this.entries.values()]) {
      this.entries.delete(entry.key);
      entry.evicted = true;
      if (entry.leases === 0 && entry.session) disposals.push(entry.session.dispose());
    }
    await Promise.all(disposals);
  }

  private load(key: string, modelPath: string, options: ResolvedSessionOptions, patch: WeightPatch | undefined, signal?: AbortSignal): Entry {
    const entry: Entry = { key, ready: Promise.resolve(undefined as never), session: undefined, files: [], bytes: 0, fileBytes: 0, leases: 0, evicted: false };
    entry.ready = this.createFor(entry, modelPath, options, patch, signal);
    entry.ready.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    return entry;
  }

  private async createFor(
    entry: Entry,
    modelPath: string,
    options: ResolvedSessionOptions,
    patch: WeightPatch | undefined,
    signal?: AbortSignal,
  ): Promise<OnnxSession> {
    // The graph is read and validated first (weights only checked); the optimized-graph cache is keyed
    // by these source files and the transforms asked for, so a hit skips reading, patching and fusing.
    let files = await readOnnxModelFiles(modelPath, { fs: this.fs });
    entry.files = [files.modelIdentity, ...files.externalData];
    entry.fileBytes = entry.files.reduce((n, f) => n + f.size, 0);
    entry.bytes = usedWeightBytes(files);
    throwIfAborted(signal);
    let cacheKey: string | undefined;
    if (options.optimizedCacheDir !== undefined && (patch === undefined || patch.cacheable === true)) {
      cacheKey = optimizedModelKey({
        files,
        runtimeVersion: ONNXRUNTIME_VERSION,
        graphOptimizationLevel: options.graphOptimizationLevel,
        deterministic: options.deterministic,
        // The engine version too: a change to a transform's code that changes results bumps it.
        transformKey: [`engine-${ENGINE_VERSION}`, options.fuseAttention ? ATTENTION_FUSION_KEY : 'unfused', patch?.key ?? 'unpatched'].join('+'),
      });
    }
    this.makeRoom(entry);
    const weightsInMemory = patch !== undefined && patch.needsWeightsInMemory !== false;
    this.checkMemory(entry, modelPath, weightsInMemory);
    // Packing is decided from the source graph, so a cache hit runs the same arithmetic as the first load.
    options = { ...options, prepackWeights: options.prepackWeights ?? prepackWeightsFor(files) };
    let session = cacheKey === undefined ? undefined : await OnnxSession.fromOptimizedCache(cacheKey, modelPath, options);
    if (!session) {
      if (patch) {
        // Weights are read into memory only to be patched; otherwise onnxruntime reads them from disk.
        if (weightsInMemory) files = await readExternalData(files, this.fs);
        throwIfAborted(signal);
        files = await patch.apply(files, signal);
        throwIfAborted(signal);
      }
      // A large model's float16 weights are widened into a mapped file first: onnxruntime folding them
      // in memory would hold them twice (19 GB for SDXL's UNet).
      let widened: WidenResult | undefined;
      try {
        widened = await widenFloat16Weights(files, { minBytes: this.widenMinBytes, dir: options.optimizedCacheDir });
      } catch (error) {
        // No room for the overlay, say: onnxruntime folds them as it would anyway.
        if (error instanceof ModelError) throw error;
      }
      throwIfAborted(signal);
      try {
        // Without a cache key (a LoRA set), OnnxSession.create keys a patched model with inline weights by
        // its patched graph bytes, and keeps one with external weights held in memory out of the cache.
        session = await this.createFused(widened?.files ?? files, cacheKey === undefined ? options : { ...options, optimizedCacheKey: cacheKey });
      } finally {
        widened?.dispose();
      }
    }
    entry.session = session;
    if (entry.evicted && entry.leases === 0) await session.dispose();
    return session;
  }

  /**
   * Creates the session from the graph with its attention fused (when asked and possible); if
   * onnxruntime refuses the rewritten graph, from the original one.
   */
  private async createFused(files: OnnxModelFiles, options: OnnxSessionOptions): Promise<OnnxSession> {
    if (options.fuseAttention === false) return this.createSession(files, options);
    const fused = fuseAttention(files);
    if (fused.fused === 0) return this.createSession(files, options);
    try {
      return await this.createSession(fused.files, options);
    } catch {
      return this.createSession(files, options);
    }
  }

  /**
   * Refuses work whose buffers (a render's activations, estimated by the caller) cannot fit in the memory
   * left beside the loaded sessions, before anything is allocated; idle sessions are evicted first if
   * that makes room.
   */
  checkFreeMemory(bytes: number, what: string, path?: string): void {
    const available = this.availableMemory();
    if (bytes <= available) return;
    const idle = [...this.entries.values()].filter((e) => e.leases === 0 && e.session);
    if (bytes <= available + idle.reduce((n, e) => n + e.bytes, 0)) {
      for (const e of idle) this.evict(e);
      return;
    }
    throw new ModelError(`not enough memory for ${what}: it needs about ${formatBytes(bytes)} and ${formatBytes(Math.max(0, available))} is available; render smaller (and upscale) or free memory`, path);
  }

  /**
   * Refuses a load that cannot fit in memory, with an error that says how much it needs and how much
   * there is, instead of letting the process be killed part way through. Idle sessions are evicted first
   * if that makes room. The estimate: the weights once (onnxruntime's copy; only what the graph uses of
   * each file), plus the files whole when they are read into memory to be patched, plus an eighth for
   * activations and the runtime (at least 256 MB).
   */
  private checkMemory(entry: Entry, modelPath: string, patched: boolean): void {
    const need = entry.bytes + (patched ? entry.fileBytes : 0) + Math.max(MIN_HEADROOM_BYTES, entry.bytes / 8);
    let available = this.availableMemory();
    if (need <= available) return;
    const idle = [...this.entries.values()].filter((e) => e !== entry && e.leases === 0 && e.session);
    if (need <= available + idle.reduce((n, e) => n + e.bytes, 0)) {
      for (const e of idle) this.evict(e);
      return;
    }
    available = Math.max(0, available);
    throw new ModelError(
      `not enough memory to load this model: it needs about ${formatBytes(need)} (weights ${formatBytes(entry.bytes)}${patched ? `, and ${formatBytes(entry.fileBytes)} of files read to be patched` : ''}) and ${formatBytes(available)} is available; close other programs, render with fewer models loaded, or use a smaller model`,
      modelPath,
    );
  }

  /** Evicts least-recently-used idle entries until `incoming` fits the budget (an oversized one still loads). */
  private makeRoom(incoming: Entry): void {
    let total = incoming.bytes;
    for (const e of this.entries.values()) if (e !== incoming) total += e.bytes;
    for (const e of [...this.entries.values()]) {
      if (total <= this.budgetBytes) break;
      if (e === incoming || e.leases > 0 || !e.session) continue;
      total -= e.bytes;
      this.evict(e);
    }
  }

  private evict(entry: Entry): void {
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
    if (entry.evicted) return;
    entry.evicted = true;
    this.counters.evictions++;
    if (entry.leases === 0 && entry.session) void entry.session.dispose();
  }

  private lease(entry: Entry, session: OnnxSession): SessionLease {
    let released = false;
    return {
      session,
      release: () => {
        if (released) return;
        released = true;
        entry.leases--;
        if (entry.evicted && entry.leases === 0) void session.dispose();
      },
    };
  }
}
