// The ComfyUI backend: a job becomes an API-format graph (comfyGraph.ts), checked against the server's
// /object_info (every node class present, every model name installed), hints uploaded, the prompt queued
// with our client id, progress and previews followed on /ws, the image fetched through /history and
// /view. Cancelling interrupts the server. If the socket drops (a restart), /history and /queue are polled
// until the prompt finishes or is known lost, which is reported as retryable.
import { randomUUID } from 'node:crypto';
import type WebSocket from 'ws';
import { CancelledError, ModelError } from '../../errors';
import type { BackendRender, BackendRenderOptions, RenderBackend, RenderProgress } from '../../render/RenderBackend';
import type { RenderJob } from '../../render/renderJob';
import { StageTimings } from '../../render/StageTimings';
import { BackendRequestError, BackendUnavailableError, delay } from '../http';
import { decodeServerImage } from '../remoteImage';
import { remoteRequestFromJob } from '../remoteRequest';
import type { RemoteServerConfig } from '../remoteServer';
import { ComfyUIClient, comboChoices, parsePreviewFrame, type ComfyHistoryEntry } from './comfyClient';
import { buildComfyGraph, type ComfyGraph } from './comfyGraph';

/** Inputs that name files on the server, checked against /object_info's lists before queueing. */
const MODEL_INPUTS = ['ckpt_name', 'unet_name', 'clip_name', 'clip_name1', 'clip_name2', 'vae_name', 'lora_name', 'control_net_name'];
/** How long a dropped socket may stay unreachable before the render is given up (default; else the server's timeoutMs). */
const RECONNECT_GRACE_MS = 30_000;
const POLL_MS = 200;

const PHASE_OF_CLASS: Readonly<Record<string, RenderProgress['phase']>> = {
  CheckpointLoaderSimple: 'load',
  UNETLoader: 'load',
  CLIPLoader: 'load',
  DualCLIPLoader: 'load',
  VAELoader: 'load',
  LoraLoader: 'load',
  ControlNetLoader: 'load',
  CLIPTextEncode: 'encode',
  CLIPTextEncodeFlux: 'encode',
  KSampler: 'denoise',
  VAEDecode: 'decode',
  SaveImage: 'write',
};

export class ComfyUIBackend implements RenderBackend {
  readonly name: string;
  readonly runtimeVersion: string;
  readonly client: ComfyUIClient;
  private version?: Promise<string>;

  constructor(readonly server: RemoteServerConfig) {
    this.name = `comfyui:${server.name}`;
    this.runtimeVersion = 'comfyui';
    this.client = new ComfyUIClient(server.name, new URL(server.url), server.timeoutMs);
  }

  /** The graph a job is sent as (also what the figure records). */
  async graphFor(job: RenderJob): Promise<ComfyGraph> {
    return buildComfyGraph(await remoteRequestFromJob(job, this.server));
  }

  async render(job: RenderJob, options: BackendRenderOptions = {}): Promise<BackendRender> {
    const { signal } = options;
    const timings = new StageTimings();
    const request = await remoteRequestFromJob(job, this.server);
    const graph = buildComfyGraph(request);
    this.version ??= this.client.version(signal).catch((error: unknown) => {
      this.version = undefined;
      throw error;
    });
    const version = await this.version;
    await this.checkAvailability(graph, signal);
    for (const c of request.control) await this.client.uploadImage(c.uploadName, c.png, signal);
    if (request.init) await this.client.uploadImage(request.init.uploadName, request.init.png, signal);
    if (this.server.maxQueue !== undefined) {
      const queued = await this.client.queueRemaining(signal);
      if (queued >= this.server.maxQueue) throw new BackendUnavailableError(`${this.server.name}: the queue is full (${queued} prompts waiting, maxQueue ${this.server.maxQueue})`);
    }
    const clientId = randomUUID();
    const socket = await this.client.openSocket(clientId, signal);
    let promptId: string | undefined;
    const onAbort = () => {
      if (promptId) void this.client.interrupt(promptId);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const queued = await this.client.queuePrompt(graph, clientId, signal);
      promptId = queued.promptId;
      const entry = await this.follow(socket, promptId, graph, job, options);
      const saveId = Object.keys(graph).find((id) => graph[id].class_type === 'SaveImage');
      const ref = saveId ? entry.outputs[saveId]?.images?.[0] : undefined;
      if (!ref) throw new BackendRequestError(`${this.server.name}: prompt ${promptId} finished without an image from its SaveImage node`);
      const bytes = await this.client.view(ref, signal);
      const image = await decodeServerImage(bytes, `${this.server.name}: ${ref.filename}`, { width: request.width, height: request.height });
      return {
        image,
        hints: [],
        loras: [],
        warnings: [],
        timings: timings.report(),
        provenance: { api: 'comfyui', server: this.server.name, version, request: queued.sent, reproducibility: 'recipe-reproducible' },
      };
    } finally {
      signal?.removeEventListener('abort', onAbort);
      socket.terminate();
    }
  }

  /** Every node class on the server, every named model installed; errors list what the server has. */
  private async checkAvailability(graph: ComfyGraph, signal?: AbortSignal): Promise<void> {
    const infos = new Map<string, Awaited<ReturnType<ComfyUIClient['nodeInfo']>>>();
    for (const node of Object.values(graph)) {
      if (!infos.has(node.class_type)) infos.set(node.class_type, await this.client.nodeInfo(node.class_type, signal));
      const info = infos.get(node.class_type);
      if (!info) throw new BackendRequestError(`${this.server.name}: the server has no node '${node.class_type}' (a core ComfyUI node: update ComfyUI)`);
      for (const input of MODEL_INPUTS) {
        const value = node.inputs[input];
        if (typeof value !== 'string') continue;
        const choices = comboChoices(info.input?.required?.[input] ?? info.input?.optional?.[input]);
        if (choices && !choices.includes(value)) {
          const shown = choices.length ? choices.slice(0, 50).join(', ') + (choices.length > 50 ? `, … (${choices.length} in all)` : '') : 'none installed';
          throw new ModelError(`${this.server.name} has no ${input.replace(/_name\d?$/, '').replace('ckpt', 'checkpoint')} '${value}' (${node.class_type}.${input}); available: ${shown}`);
        }
      }
    }
  }

  /** Follows the prompt on the socket until it finishes; falls back to polling if the socket drops. */
  private follow(socket: WebSocket, promptId: string, graph: ComfyGraph, job: RenderJob, options: BackendRenderOptions): Promise<ComfyHistoryEntry> {
    const { signal, onProgress } = options;
    let step = 0;
    let total = job.recipe.steps;
    return new Promise<ComfyHistoryEntry>((resolve, reject) => {
      let settled = false;
      const finish = (action: () => Promise<ComfyHistoryEntry>) => {
        if (settled) return;
        settled = true;
        action().then(resolve, reject);
      };
      signal?.addEventListener('abort', () => finish(() => Promise.reject(new CancelledError())), { once: true });
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        if (settled) return;
        if (isBinary) {
          const frame = parsePreviewFrame(data);
          if (frame && (frame.promptId === undefined || frame.promptId === promptId) && options.previews && onProgress) {
            void decodeServerImage(frame.bytes, `${this.server.name}: preview`).then(
              (preview) => onProgress({ phase: 'denoise', step, total, preview }),
              () => undefined,
            );
          }
          return;
        }
        let message: { type?: string; data?: Record<string, unknown> };
        try {
          message = JSON.parse(data.toString('utf8')) as typeof message;
        } catch {
          return;
        }
        const d = message.data ?? {};
        if (d.prompt_id !== undefined && d.prompt_id !== promptId) return;
        switch (message.type) {
          case 'progress':
            if (typeof d.value === 'number' && typeof d.max === 'number') {
              [step, total] = [d.value, d.max];
              onProgress?.({ phase: 'denoise', step, total });
            }
            break;
          case 'executing':
            if (d.node === null) finish(() => this.finalHistory(promptId, signal));
            else if (typeof d.node === 'string') {
              const phase = PHASE_OF_CLASS[graph[d.node]?.class_type ?? ''];
              if (phase && phase !== 'denoise') onProgress?.({ phase, step: 0, total });
            }
            break;
          case 'execution_success':
            finish(() => this.finalHistory(promptId, signal));
            break;
          case 'execution_error':
            finish(() => Promise.reject(new BackendRequestError(`${this.server.name}: ${String(d.node_type ?? 'a node')} failed: ${String(d.exception_message ?? 'unknown error').trim()}`)));
            break;
          case 'execution_interrupted':
            finish(() => Promise.reject(signal?.aborted ? new CancelledError() : new BackendUnavailableError(`${this.server.name}: the render was interrupted on the server`)));
            break;
        }
      });
      socket.on('close', () => finish(() => this.pollUntilDone(promptId, signal)));
      socket.on('error', () => finish(() => this.pollUntilDone(promptId, signal)));
    });
  }

  private async finalHistory(promptId: string, signal?: AbortSignal): Promise<ComfyHistoryEntry> {
    const entry = await this.client.history(promptId, signal);
    if (!entry) throw new BackendUnavailableError(`${this.server.name}: prompt ${promptId} finished but is not in /history`);
    if (entry.status?.status_str === 'error') throw new BackendRequestError(`${this.server.name}: prompt ${promptId} failed on the server`);
    return entry;
  }

  /** The socket dropped: wait for the server (a restart) and learn whether our prompt survived. */
  private async pollUntilDone(promptId: string, signal?: AbortSignal): Promise<ComfyHistoryEntry> {
    let unreachableSince: number | undefined;
    for (;;) {
      if (signal?.aborted) throw new CancelledError();
      try {
        const entry = await this.client.history(promptId, signal);
        // ComfyUI writes a history entry only once a prompt has ended (success, error or interrupt).
        if (entry) return this.finalHistory(promptId, signal);
        if (!entry && !(await this.inQueue(promptId, signal))) {
          throw new BackendUnavailableError(`${this.server.name}: the server restarted mid-render and lost prompt ${promptId}`);
        }
        unreachableSince = undefined;
      } catch (error) {
        if (!(error instanceof BackendUnavailableError) || error.message.includes('lost prompt')) throw error;
        unreachableSince ??= performance.now();
        if (performance.now() - unreachableSince > (this.server.timeoutMs ?? RECONNECT_GRACE_MS)) throw error;
      }
      await delay(POLL_MS, signal);
    }
  }

  private async inQueue(promptId: string, signal?: AbortSignal): Promise<boolean> {
    const queue = await this.client.queue(signal);
    return [...queue.queue_running, ...queue.queue_pending].some((item) => Array.isArray(item) && item[1] === promptId);
  }

  async dispose(): Promise<void> {}
}
