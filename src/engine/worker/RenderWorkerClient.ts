// The caller's side of the render worker: one child process (see renderWorker.ts for why not a thread),
// started on first use, requests matched to replies by id, cancellation through AbortSignal, and
// recovery from a crashed worker (out of memory, native fault): pending requests fail with
// WorkerCrashedError and the next request starts a fresh one.
import type { EngineOptions } from '../options';
import { fork, type ChildProcess } from 'node:child_process';
import { CancelledError, InputError, ModelError, SceneError } from '../errors';
import type { FromWorker, SerializedError, ToWorker, WatermarkFinding, WorkerRenderRequest, WorkerRenderResult } from './protocol';
import type { RenderProgress } from '../render/RenderBackend';
import type { C2paReport } from '../provenance/readC2pa';

export class WorkerCrashedError extends Error {
  override readonly name = 'WorkerCrashedError';
}

export interface WorkerProgress {
  /** Which of the scene's jobs (main output, then variants) and how many. */
  readonly job: number;
  readonly jobs: number;
  readonly progress: RenderProgress;
}

/** The worker's answers that settle a request, by message type, and the value each carries. */
interface Answers {
  done: WorkerRenderResult;
  c2pa: C2paReport;
  watermark: WatermarkFinding;
}

interface Pending {
  /** The answer this request waits for; any other (but an error) is refused, never left hanging. */
  readonly answer: keyof Answers;
  resolve(value: Answers[keyof Answers]): void;
  reject(error: Error): void;
  onProgress?: (progress: WorkerProgress) => void;
}

export interface RenderWorkerClientOptions {
  /** Path of the bundled worker script (out/worker.js). */
  readonly workerScript: string;
  readonly threads?: number;
  readonly cacheDir?: string;
  /** The most memory the worker's loaded models may take (EngineOptions.memoryLimitBytes). */
  readonly memoryLimitBytes?: number;
  /** onnxruntime execution provider (EngineOptions.executionProvider). */
  readonly executionProvider?: EngineOptions['executionProvider'];
  /** JavaScript heap limit of the worker in MiB; onnxruntime's native memory is outside it. */
  readonly maxOldGenerationSizeMb?: number;
  /** The Node executable (default: this process's; in VS Code that is Electron running as Node). */
  readonly execPath?: string;
  /** Provenance of written figures (C2PA signing identity, prompt writer, prompt log); see EngineOptions. */
  readonly provenance?: EngineOptions['provenance'];
}

/** Rebuilds the engine's typed error from its serialized form, so callers can branch on the type. */
export function deserializeError(e: SerializedError): Error {
  if (e.name === 'SceneError' && e.diagnostics) return new SceneError(e.file ?? '', [...e.diagnostics]);
  if (e.name === 'CancelledError') return new CancelledError(e.message);
  if (e.name === 'ModelError') return Object.assign(new ModelError(e.message), { message: e.message, path: e.path });
  if (e.name === 'InputError') return Object.assign(new InputError(e.message), { message: e.message, path: e.path });
  const error = new Error(e.message);
  error.name = e.name;
  return error;
}

export class RenderWorkerClient {
  private worker: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private disposed = false;

  constructor(private readonly options: RenderWorkerClientOptions) {}

  /** Renders a scene in the worker. Rejects with CancelledError when `signal` fires. */
  render(request: WorkerRenderRequest, options: { signal?: AbortSignal; onProgress?: (p: WorkerProgress) => void } = {}): Promise<WorkerRenderResult> {
    if (this.disposed) return Promise.reject(new Error('the render worker was disposed'));
    if (options.signal?.aborted) return Promise.reject(new CancelledError());
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<WorkerRenderResult>((resolve, reject) => {
      const onAbort = () => this.send(worker, { type: 'cancel', id });
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => options.signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        answer: 'done',
        resolve: (r) => {
          cleanup();
          resolve(r as WorkerRenderResult);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
        onProgress: options.onProgress,
      });
      // Keep this process alive while a render is pending; an idle worker must not.
      worker.ref();
      worker.channel?.ref();
      this.send(worker, { type: 'render', id, request });
    });
  }

  /** Reads and validates `file`'s C2PA manifest in the worker (absent / valid / trusted / invalid). */
  readC2pa(file: string, trustAnchorsPem?: string): Promise<C2paReport> {
    return this.ask('c2pa', (id) => ({ type: 'readC2pa', id, file, trustAnchorsPem }));
  }

  /** Decodes `file` and searches its pixels for the invisible watermark, in the worker. */
  detectWatermark(file: string): Promise<WatermarkFinding> {
    return this.ask('watermark', (id) => ({ type: 'detectWatermark', id, file }));
  }

  /** One request that is not a render (no progress, no cancel), answered by a message of type `answer`. */
  private ask<A extends 'c2pa' | 'watermark'>(answer: A, message: (id: number) => ToWorker): Promise<Answers[A]> {
    if (this.disposed) return Promise.reject(new Error('the render worker was disposed'));
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<Answers[A]>((resolve, reject) => {
      this.pending.set(id, { answer, resolve: (value) => resolve(value as Answers[A]), reject });
      worker.ref();
      worker.channel?.ref();
      this.send(worker, message(id));
    });
  }

  /** True while a worker thread is alive (for tests and status displays). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** Terminates the worker; pending requests fail. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(new CancelledError('the render worker was shut down'));
    if (worker && worker.exitCode === null && worker.signalCode === null) {
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.ref(); // wait for it to go, even when it is the last thing keeping this process alive
      worker.kill();
      await exited;
    }
  }

  private send(worker: ChildProcess, message: ToWorker): void {
    if (worker.connected) worker.send(message);
  }

  private ensureWorker(): ChildProcess {
    if (this.worker) return this.worker;
    const worker = fork(this.options.workerScript, [], {
      execPath: this.options.execPath,
      execArgv: this.options.maxOldGenerationSizeMb ? [`--max-old-space-size=${this.options.maxOldGenerationSizeMb}`] : [],
      // Structured clone over the pipe: typed arrays (step previews) and bigint survive.
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    });
    worker.on('message', (message: FromWorker) => this.onMessage(message));
    worker.on('error', (error) => this.crashed(worker, `the render worker failed: ${error.message}`));
    worker.on('exit', (code, signal) =>
      this.crashed(worker, `the render worker stopped unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`}${signal === 'SIGKILL' ? ', possibly out of memory' : ''})`),
    );
    worker.unref();
    worker.channel?.unref();
    this.worker = worker;
    this.send(worker, { type: 'configure', threads: this.options.threads, cacheDir: this.options.cacheDir, memoryLimitBytes: this.options.memoryLimitBytes, provenance: this.options.provenance, executionProvider: this.options.executionProvider });
    return worker;
  }

  private onMessage(message: FromWorker): void {
    const pending = this.pending.get(message.id);
    if (!pending) return;
    if (message.type === 'progress') {
      pending.onProgress?.({ job: message.job, jobs: message.jobs, progress: message.progress });
      return;
    }
    this.pending.delete(message.id);
    if (this.pending.size === 0) {
      this.worker?.unref();
      this.worker?.channel?.unref();
    }
    if (message.type === 'error') pending.reject(deserializeError(message.error));
    else if (message.type !== pending.answer) pending.reject(new Error(`internal error: the worker answered a '${pending.answer}' request with '${message.type}'`));
    else pending.resolve(message.type === 'done' ? message.result : message.type === 'c2pa' ? message.report : message.detection);
  }

  private crashed(worker: ChildProcess, reason: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.failAll(new WorkerCrashedError(`${reason}; the next render starts a fresh worker`));
  }

  private failAll(error: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(error);
  }
}
