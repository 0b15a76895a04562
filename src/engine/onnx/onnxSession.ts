// The one module that imports onnxruntime-node. OnnxSession wraps an InferenceSession: it is created
// from validated bytes (so a patched copy of the weights works the same way), reports the graph's real
// input/output names, dtypes and shapes, converts float32 host data to whatever dtype each input declares
// (float16, float64, int32, int64), converts float outputs back to float32, times every run, and turns
// onnxruntime's raw errors into ModelErrors that name the file (missingKernel.ts: an operator the CPU
// cannot run, as in GPU-optimized float16 exports).
import { dirname, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { CancelledError, ModelError, throwIfAborted } from '../errors';
import { physicalCoreCount } from './cpuCores';
import { float16ToFloat32, float32ToFloat16 } from './float16';
import { missingKernelError } from './missingKernel';
import { usedWeightBytes, type OnnxModelFiles } from './onnxModelFiles';
import { OptimizedModelCache, optimizedModelKey } from './optimizedModelCache';
import { elementCount, formatDims, type FloatTensor } from './tensor';
import { currentProviderEnvironment, onnxruntimeBindingFolder, type ExecutionProviderName, type ProviderEnvironment } from './executionProviders';

/** This process's execution-provider environment (platform, the binding's providers and libraries). */
export function providerEnvironment(): ProviderEnvironment {
  return currentProviderEnvironment(ort as unknown as { listSupportedBackends?: () => { name: string; bundled: boolean }[] }, onnxruntimeBindingFolder((id) => require.resolve(id)));
}

/** onnxruntime-node's version, for provenance records. */
export const ONNXRUNTIME_VERSION: string = ort.env.versions.node ?? ort.env.versions.common;

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface OnnxSessionOptions {
  /** Threads inside one operator. Default: the number of physical cores. */
  readonly intraOpNumThreads?: number;
  /** Default 'all' (2–5x faster than 'basic' on these UNets). */
  readonly graphOptimizationLevel?: GraphOptimizationLevel;
  /**
   * Default true: onnxruntime's `session.use_deterministic_compute`, so kernels that have a faster
   * non-deterministic variant use the deterministic one. CPU kernels split work by thread count, so
   * bit-identical results also need the same intraOpNumThreads; it is part of the cache key.
   */
  readonly deterministic?: boolean;
  /**
   * Default false. With spinning, idle worker threads busy-wait between operators. On a machine shared
   * with other work (an editor, a training job) that steals the cores the next operator needs: the
   * tiny-shapes UNet (batch 2, 16x16, 2 threads) took a median 10.2-10.7 ms per call without spinning
   * and 20.7-22.2 ms with it on this 2-core machine under load.
   */
  readonly allowSpinning?: boolean;
  /**
   * Folder of the optimized-graph cache (see optimizedModelCache.ts). Unset: no cache. With it, the first
   * load writes onnxruntime's optimized graph there and later loads start from it with optimization off.
   */
  readonly optimizedCacheDir?: string;
  /**
   * Identifies any change made to the model's bytes in memory (a weight patch's key, a graph transform's
   * version) for the optimized-graph cache. Sessions whose external weights were read into memory are
   * cached only when it is set.
   */
  readonly transformKey?: string;
  /**
   * The optimized-graph cache key, when the caller computed it from the source files before changing
   * them (SessionCache does, so a hit skips reading, patching and fusing). Overrides transformKey.
   */
  readonly optimizedCacheKey?: string;
  /**
   * Default true: attention chains (MatMul → scale → Softmax → MatMul) are rewritten into onnxruntime's
   * fused com.microsoft.MultiHeadAttention when the session is created (attentionFusion.ts). On a random
   * SD 1.5-architecture UNet at 512² this halved the UNet call and cut peak memory from 4.5 GB to 0.2 GB.
   */
  readonly fuseAttention?: boolean;
  /**
   * Default ['cpu']: onnxruntime's execution providers, in order (executionProviders.ts chooses them).
   * A GPU provider whose session fails to start falls back to the CPU (OnnxSession.providerFallback).
   */
  readonly executionProviders?: readonly ExecutionProviderName[];
  /**
   * Whether onnxruntime copies each MatMul weight into its packed GEMM layout when the session is
   * created. Default (unset): decided from the model by prepackWeightsFor — packed below
   * PREPACK_MAX_PARAMETERS, mapped from the file and packed per call above. Packed and unpacked GEMMs
   * differ in the last bits, so the choice is a function of the model alone, never of the machine or of
   * the cache's state: the same model renders the same bytes everywhere.
   */
  readonly prepackWeights?: boolean;
}

/**
 * Components above this many parameters keep their weights mapped from the file instead of packed
 * copies. An SDXL UNet (2.57 B) in float32: packing copies 8.8 GB into the process at every load (21-29
 * s of a cached load here) as memory that cannot be given back, while mapped weights load in 2.3-3.6 s
 * and stay reclaimable page cache (a 16 GB machine renders without running out). The price, measured at
 * 1024² on a quiet machine (docs/benchmarks.md): a mapped UNet call takes ~6 % longer (101 s against 95
 * s), and the first call pages the weights in (+31 s, about what packing costs at load). SD 1.x/2.x UNets
 * (~0.86 B) and every text encoder and VAE stay below it, and their renders stay the bytes they were.
 */
export const PREPACK_MAX_PARAMETERS = 1.5e9;

/** The default of `prepackWeights` for a model: packed unless it has more than PREPACK_MAX_PARAMETERS parameters. */
export function prepackWeightsFor(files: Pick<OnnxModelFiles, 'info'>): boolean {
  let parameters = 0;
  for (const init of files.info.initializers) parameters += init.dims.reduce((n, d) => n * d, 1);
  return parameters <= PREPACK_MAX_PARAMETERS;
}

type CacheOptionNames = 'optimizedCacheDir' | 'transformKey' | 'optimizedCacheKey' | 'prepackWeights';
export type ResolvedSessionOptions = Required<Omit<OnnxSessionOptions, CacheOptionNames>> & Pick<OnnxSessionOptions, CacheOptionNames>;

/** Where a session's graph came from: optimized from the source ('off': no cache, or not cacheable), cache hit, or stored to the cache. */
export type OptimizedCacheOutcome = 'off' | 'hit' | 'stored' | 'failed';

export function resolveSessionOptions(options: OnnxSessionOptions = {}): ResolvedSessionOptions {
  const threads = options.intraOpNumThreads ?? physicalCoreCount();
  if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
    throw new RangeError(`intraOpNumThreads must be an integer from 1 to 1024, got ${threads}`);
  }
  const executionProviders = options.executionProviders?.length ? options.executionProviders : (['cpu'] as const);
  const cpuOnly = executionProviders.every((p) => p === 'cpu');
  return {
    intraOpNumThreads: threads,
    executionProviders,
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    deterministic: options.deterministic ?? true,
    allowSpinning: options.allowSpinning ?? false,
    fuseAttention: options.fuseAttention ?? true,
    // A graph optimized for a GPU provider holds that provider's fused nodes: only CPU graphs are cached.
    optimizedCacheDir: cpuOnly ? options.optimizedCacheDir : undefined,
    transformKey: options.transformKey,
    optimizedCacheKey: options.optimizedCacheKey,
    prepackWeights: options.prepackWeights,
  };
}

/** A stable string for cache keys. */
export function sessionOptionsKey(options: ResolvedSessionOptions): string {
  const ep = options.executionProviders.join(',');
  return `threads=${options.intraOpNumThreads};opt=${options.graphOptimizationLevel};det=${options.deterministic};spin=${options.allowSpinning};fuse=${options.fuseAttention}${ep === 'cpu' ? '' : `;ep=${ep}`}${options.prepackWeights === undefined ? '' : `;prepack=${options.prepackWeights}`}`;
}

/** An input or output of the graph as onnxruntime reports it; string dims are symbolic (e.g. 'batch'). */
export interface OnnxValueInfo {
  readonly name: string;
  /** 'float32', 'float16', 'int64', 'int32', ...; 'non-tensor' for sequences and maps. */
  readonly type: string;
  readonly shape: readonly (number | string)[];
}

/** Host data for one input: numbers in row-major order, converted to the input's declared dtype on feed. */
export interface HostTensor {
  readonly data: ArrayLike<number>;
  readonly dims: readonly number[];
}

function toValueInfo(m: ort.InferenceSession.ValueMetadata): OnnxValueInfo {
  return m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'non-tensor', shape: [] };
}

/** First line of onnxruntime's error text, without its source-file prefixes. */
function ortDetail(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0].trim();
}

function describeLoadFailure(detail: string): string {
  if (/implementation for|not (been )?implemented|opset|Unsupported model IR version|domain_version/i.test(detail)) {
    return 'onnxruntime cannot run this model: it uses an operator or opset version this onnxruntime does not support';
  }
  if (/external data|External data|\.onnx_data/i.test(detail)) return 'onnxruntime could not load the model\'s external weights';
  if (/protobuf|parsing|invalid model|ModelProto/i.test(detail)) return 'the file is not a valid ONNX model (corrupt, or not an ONNX file at all)';
  if (/bad_alloc|out of memory|Failed to allocate/i.test(detail)) return 'not enough memory to load the model';
  return 'onnxruntime could not load the model';
}

function baseSessionOptions(resolved: ResolvedSessionOptions, level: GraphOptimizationLevel): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [...resolved.executionProviders],
    graphOptimizationLevel: level,
    intraOpNumThreads: resolved.intraOpNumThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // Fatal only: every error reaches the caller as a ModelError carrying onnxruntime's text.
    logSeverityLevel: 4,
    extra: {
      'session.use_deterministic_compute': resolved.deterministic ? '1' : '0',
      'session.intra_op.allow_spinning': resolved.allowSpinning ? '1' : '0',
      // Resolved from the model before a session is created (OnnxSession.create, SessionCache).
      ...(resolved.prepackWeights === false ? { 'session.disable_prepacking': '1' } : {}),
    },
  };
}

export class OnnxSession {
  private disposed = false;
  /** Set when the requested GPU provider failed to start and this session runs on the CPU: why. */
  providerFallback?: string;
  private runs = 0;
  private totalMs = 0;
  private lastMs = 0;

  private constructor(
    private readonly session: ort.InferenceSession,
    /** The model.onnx this session was created from; errors name it. */
    readonly modelPath: string,
    readonly options: ResolvedSessionOptions,
    readonly inputs: readonly OnnxValueInfo[],
    readonly outputs: readonly OnnxValueInfo[],
    private cacheOutcome: OptimizedCacheOutcome,
  ) {}

  /** What the optimized-graph cache did for this session ('failed': the entry could not be written). */
  get optimizedCache(): OptimizedCacheOutcome {
    return this.cacheOutcome;
  }

  /**
   * Creates a session from validated (and possibly patched) model files. With `optimizedCacheDir` the
   * optimized graph is looked up in (or, on a miss, written to) that cache; a cache entry onnxruntime
   * cannot load is deleted and the model is loaded from its source files instead.
   */
  static async create(files: OnnxModelFiles, options: OnnxSessionOptions = {}): Promise<OnnxSession> {
    const resolved = resolveSessionOptions({ ...options, prepackWeights: options.prepackWeights ?? prepackWeightsFor(files) });
    const key =
      resolved.optimizedCacheDir === undefined
        ? undefined
        : (resolved.optimizedCacheKey ??
          optimizedModelKey({
            files,
            runtimeVersion: ONNXRUNTIME_VERSION,
            graphOptimizationLevel: resolved.graphOptimizationLevel,
            deterministic: resolved.deterministic,
            transformKey: resolved.transformKey,
          }));
    if (key === undefined || resolved.optimizedCacheDir === undefined) return OnnxSession.createFromSource(files, resolved, 'off');
    const cache = new OptimizedModelCache(resolved.optimizedCacheDir);
    const hit = await OnnxSession.openOptimized(cache, key, files.modelPath, resolved);
    if (hit) return hit;
    // What the graph uses of its files (a converted checkpoint's link is shared by its components).
    const sourceBytes = usedWeightBytes(files);
    const pending = await cache.reserve(key, sourceBytes);
    if (!pending) return OnnxSession.createFromSource(files, resolved, 'failed');
    let session: OnnxSession;
    try {
      session = await OnnxSession.createFromSource(files, resolved, 'stored', {
        path: pending.modelPath,
        config: {
          'session.optimized_model_external_initializers_file_name': pending.dataFileName,
          'session.optimized_model_external_initializers_min_size_in_bytes': '1024',
        },
      });
    } catch (error) {
      await pending.abandon();
      if (!(error instanceof ModelError)) throw error;
      // Perhaps only the optimized graph could not be written: try once more without saving it.
      return OnnxSession.createFromSource(files, resolved, 'failed');
    }
    if (!(await pending.commit(resolve(files.modelPath)))) session.cacheOutcome = 'failed';
    return session;
  }

  /**
   * The session from the optimized-graph cache entry `key` (made by an earlier create with the same
   * key), or undefined when there is none; an entry onnxruntime cannot load is deleted.
   */
  static async fromOptimizedCache(key: string, modelPath: string, options: OnnxSessionOptions): Promise<OnnxSession | undefined> {
    const resolved = resolveSessionOptions(options);
    if (resolved.optimizedCacheDir === undefined) return undefined;
    return OnnxSession.openOptimized(new OptimizedModelCache(resolved.optimizedCacheDir), key, modelPath, resolved);
  }

  private static async openOptimized(cache: OptimizedModelCache, key: string, modelPath: string, resolved: ResolvedSessionOptions): Promise<OnnxSession | undefined> {
    const hit = await cache.lookup(key);
    if (!hit) return undefined;
    // The graph is optimized already; onnxruntime reads its weights from the entry's folder.
    try {
      const session = await ort.InferenceSession.create(hit.modelPath, baseSessionOptions(resolved, 'disabled'));
      return OnnxSession.wrap(session, modelPath, resolved, 'hit');
    } catch {
      await cache.remove(key);
      return undefined;
    }
  }

  private static async createFromSource(
    files: OnnxModelFiles,
    resolved: ResolvedSessionOptions,
    outcome: OptimizedCacheOutcome,
    save?: { path: string; config: Record<string, string> },
  ): Promise<OnnxSession> {
    const sessionOptions = baseSessionOptions(resolved, resolved.graphOptimizationLevel);
    const config = sessionOptions.extra as Record<string, string>;
    if (save) {
      sessionOptions.optimizedModelFilePath = save.path;
      Object.assign(config, save.config);
    }
    const inMemory = files.externalData.filter((f) => f.data !== undefined);
    if (inMemory.length === files.externalData.length) {
      if (inMemory.length > 0) sessionOptions.externalData = inMemory.map((f) => ({ path: f.location, data: f.data as Uint8Array }));
    } else if (inMemory.length === 0) {
      // onnxruntime reads the external weights itself, from model.onnx's folder (validated already).
      config['session.model_external_initializers_file_folder_path'] = files.externalDataFolder ?? dirname(files.modelPath);
    } else {
      throw new ModelError('internal error: some external weights files were read into memory and others not', files.modelPath);
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(files.modelBytes, sessionOptions);
    } catch (error) {
      const detail = ortDetail(error);
      if (resolved.executionProviders[0] !== 'cpu') {
        // The GPU provider did not start (no device, driver or library): the CPU renders, and says why.
        const cpu = await OnnxSession.createFromSource(files, { ...resolved, executionProviders: ['cpu'] }, outcome, save);
        cpu.providerFallback = `${resolved.executionProviders[0]} could not start (${detail}); rendering on the CPU`;
        return cpu;
      }
      const e = missingKernelError(detail, files) ?? new ModelError(`${describeLoadFailure(detail)}; onnxruntime said: ${detail}`, files.modelPath);
      e.cause = error;
      throw e;
    }
    return OnnxSession.wrap(session, files.modelPath, resolved, outcome);
  }

  private static wrap(session: ort.InferenceSession, modelPath: string, resolved: ResolvedSessionOptions, outcome: OptimizedCacheOutcome): OnnxSession {
    return new OnnxSession(session, modelPath, resolved, session.inputMetadata.map(toValueInfo), session.outputMetadata.map(toValueInfo), outcome);
  }

  input(name: string): OnnxValueInfo | undefined {
    return this.inputs.find((i) => i.name === name);
  }

  output(name: string): OnnxValueInfo | undefined {
    return this.outputs.find((o) => o.name === name);
  }

  /** Total onnxruntime run time of this session, in milliseconds (for the benchmark's Σ onnxruntime time). */
  get runTimeMs(): number {
    return this.totalMs;
  }

  get runCount(): number {
    return this.runs;
  }

  /** Duration of the most recent run, in milliseconds. */
  get lastRunMs(): number {
    return this.lastMs;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /**
   * Runs the graph. Each feed is converted to its input's declared dtype; float outputs come back as
   * float32. onnxruntime-node cannot interrupt a run, so `signal` is checked before and after it.
   */
  async run(
    feeds: Readonly<Record<string, HostTensor>>,
    outputNames: readonly string[] = this.outputs.map((o) => o.name),
    signal?: AbortSignal,
  ): Promise<Record<string, FloatTensor>> {
    throwIfAborted(signal);
    if (this.disposed) throw new ModelError('internal error: the session was used after being released', this.modelPath);
    for (const name of Object.keys(feeds)) {
      if (!this.input(name)) {
        throw new ModelError(`the graph has no input '${name}'; its inputs are: ${this.inputs.map((i) => i.name).join(', ')}`, this.modelPath);
      }
    }
    for (const info of this.inputs) {
      if (!feeds[info.name]) {
        throw new ModelError(
          `the graph needs an input '${info.name}' (${info.type} ${formatDims(info.shape)}) that was not supplied; supplied: ${Object.keys(feeds).join(', ') || 'none'}`,
          this.modelPath,
        );
      }
    }
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const info of this.inputs) ortFeeds[info.name] = this.toOrtTensor(info, feeds[info.name]);
    const start = performance.now();
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await this.session.run(ortFeeds, [...outputNames], { logSeverityLevel: 4 });
    } catch (error) {
      const detail = ortDetail(error);
      const e = new ModelError(`onnxruntime failed while running the model; onnxruntime said: ${detail}`, this.modelPath);
      e.cause = error;
      throw e;
    } finally {
      for (const t of Object.values(ortFeeds)) t.dispose();
    }
    this.lastMs = performance.now() - start;
    this.totalMs += this.lastMs;
    this.runs++;
    const out: Record<string, FloatTensor> = {};
    for (const name of outputNames) out[name] = this.fromOrtTensor(name, results[name]);
    if (signal?.aborted) throw new CancelledError();
    return out;
  }

  /** Frees the native session. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.session.release();
  }

  private toOrtTensor(info: OnnxValueInfo, feed: HostTensor): ort.Tensor {
    const dims = feed.dims;
    if (elementCount(dims) !== feed.data.length) {
      throw new RangeError(`input '${info.name}': ${feed.data.length} values do not fill dims ${formatDims(dims)}`);
    }
    const rankMatches = info.shape.length === dims.length;
    const fixedMismatch = rankMatches && info.shape.some((d, i) => typeof d === 'number' && d !== dims[i]);
    if (!rankMatches || fixedMismatch) {
      throw new ModelError(
        `input '${info.name}' must have shape ${formatDims(info.shape)} but was given ${formatDims(dims)}`,
        this.modelPath,
      );
    }
    const n = feed.data.length;
    const d = [...dims];
    switch (info.type) {
      case 'float32':
        return new ort.Tensor('float32', feed.data instanceof Float32Array ? feed.data : Float32Array.from(feed.data), d);
      case 'float16':
        return new ort.Tensor('float16', float32ToFloat16(feed.data), d);
      case 'float64':
        return new ort.Tensor('float64', Float64Array.from(feed.data), d);
      case 'int32': {
        // Truncation toward zero, as numpy's astype does when diffusers feeds a float timestep.
        const a = new Int32Array(n);
        for (let i = 0; i < n; i++) a[i] = Math.trunc(feed.data[i]);
        return new ort.Tensor('int32', a, d);
      }
      case 'int64': {
        const a = new BigInt64Array(n);
        for (let i = 0; i < n; i++) a[i] = BigInt(Math.trunc(feed.data[i]));
        return new ort.Tensor('int64', a, d);
      }
      default:
        throw new ModelError(
          `input '${info.name}' has type ${info.type}; supported input types are float32, float16, float64, int32 and int64`,
          this.modelPath,
        );
    }
  }

  private fromOrtTensor(name: string, value: ort.OnnxValue | undefined): FloatTensor {
    if (!value || !('dims' in value)) throw new ModelError(`the graph produced no tensor '${name}'`, this.modelPath);
    const tensor = value as ort.Tensor;
    const dims = [...tensor.dims];
    try {
      switch (tensor.type) {
        case 'float32':
          return { data: tensor.data as Float32Array, dims };
        case 'float16':
          return { data: float16ToFloat32(tensor.data as Uint16Array), dims };
        case 'float64':
          return { data: Float32Array.from(tensor.data as Float64Array), dims };
        default:
          throw new ModelError(`output '${name}' has type ${tensor.type}; only float outputs are supported`, this.modelPath);
      }
    } finally {
      if (tensor.type !== 'float32') tensor.dispose();
    }
  }
}
