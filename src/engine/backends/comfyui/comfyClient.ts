// ComfyUI's HTTP and websocket API as its server.py serves it:
//   GET  /system_stats                     → { system: { comfyui_version, … }, devices: [...] }
//   GET  /object_info/{class}              → { class: { input: { required: { name: [type|list, options] } } } }
//   GET  /prompt                           → { exec_info: { queue_remaining } }
//   POST /upload/image (multipart: image, type, subfolder, overwrite) → { name, subfolder, type }
//   POST /prompt { prompt, client_id }     → { prompt_id, number, node_errors } | 400 { error, node_errors }
//   GET  /history/{prompt_id}              → { prompt_id: { outputs: { node: { images: [...] } }, status } }
//   GET  /view?filename=&subfolder=&type=  → the image bytes
//   POST /interrupt, POST /queue { delete: [prompt_id] }
//   WS   /ws?clientId=                     → JSON { type, data } messages and binary preview frames
import WebSocket from 'ws';
import { BackendRequestError, BackendUnavailableError, httpRequest, parseJson, type HttpOptions } from '../http';
import { jsonWithBigInts, type ComfyGraph } from './comfyGraph';

/**
 * Binary websocket frames: a big-endian u32 event type, then for PREVIEW_IMAGE (1) a u32 image type and the
 * image; for PREVIEW_IMAGE_WITH_METADATA (4, sent to clients that announce support for it) a u32 length,
 * that many bytes of JSON metadata (prompt_id, node_id, image_type) and the image.
 */
export const BINARY_EVENT_PREVIEW_IMAGE = 1;
export const BINARY_EVENT_PREVIEW_IMAGE_WITH_METADATA = 4;
export const PREVIEW_IMAGE_FORMATS: Readonly<Record<number, 'jpeg' | 'png'>> = { 1: 'jpeg', 2: 'png' };

export interface ComfyImageRef {
  readonly filename: string;
  readonly subfolder: string;
  readonly type: string;
}

export interface ComfyHistoryEntry {
  readonly outputs: Record<string, { images?: ComfyImageRef[] }>;
  readonly status?: { status_str?: string; completed?: boolean; messages?: [string, Record<string, unknown>][] };
}

/** A preview frame's image (JPEG or PNG bytes, and its prompt when the frame says), or undefined for other frames. */
export function parsePreviewFrame(frame: Buffer): { format: 'jpeg' | 'png'; bytes: Buffer; promptId?: string } | undefined {
  if (frame.length < 8) return undefined;
  const type = frame.readUInt32BE(0);
  if (type === BINARY_EVENT_PREVIEW_IMAGE) {
    const format = PREVIEW_IMAGE_FORMATS[frame.readUInt32BE(4)];
    return format ? { format, bytes: frame.subarray(8) } : undefined;
  }
  if (type !== BINARY_EVENT_PREVIEW_IMAGE_WITH_METADATA) return undefined;
  const end = 8 + frame.readUInt32BE(4);
  if (end > frame.length) return undefined;
  let meta: { prompt_id?: unknown; image_type?: unknown } = {};
  try {
    meta = JSON.parse(frame.subarray(8, end).toString('utf8')) as typeof meta;
  } catch {
    return undefined;
  }
  const format = meta.image_type === 'image/png' ? 'png' : 'jpeg';
  return { format, bytes: frame.subarray(end), promptId: typeof meta.prompt_id === 'string' ? meta.prompt_id : undefined };
}

/** The choices of a combo input in /object_info: `[[...names], {...}]` (older) or `["COMBO", { options }]`. */
export function comboChoices(spec: unknown): string[] | undefined {
  if (!Array.isArray(spec)) return undefined;
  if (Array.isArray(spec[0])) return spec[0].filter((x): x is string => typeof x === 'string');
  if (spec[0] === 'COMBO' && spec[1] && typeof spec[1] === 'object') {
    const options = (spec[1] as { options?: unknown }).options;
    return Array.isArray(options) ? options.filter((x): x is string => typeof x === 'string') : undefined;
  }
  return undefined;
}

/** A 400 from POST /prompt as one readable line per failing node input. */
export function describePromptRejection(body: unknown): string {
  const b = (body ?? {}) as { error?: { message?: string; details?: string } | string; node_errors?: Record<string, { class_type?: string; errors?: { message?: string; details?: string }[] }> };
  const lines: string[] = [];
  for (const [id, node] of Object.entries(b.node_errors ?? {})) {
    for (const e of node.errors ?? []) lines.push(`node ${id} (${node.class_type ?? '?'}): ${e.message ?? 'error'}${e.details ? `: ${e.details}` : ''}`);
  }
  const head = typeof b.error === 'string' ? b.error : [b.error?.message, b.error?.details].filter(Boolean).join(': ');
  return [head || 'the prompt was rejected', ...lines].join('; ');
}

export class ComfyUIClient {
  constructor(
    /** For messages: the server's configured name. */
    readonly name: string,
    readonly baseUrl: URL,
    private readonly timeoutMs?: number,
  ) {}

  private url(path: string, query?: Record<string, string>): URL {
    const url = new URL(path.replace(/^\//, ''), this.baseUrl.href.endsWith('/') ? this.baseUrl : new URL(`${this.baseUrl.href}/`));
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    return url;
  }

  private async json(path: string, options: HttpOptions = {}): Promise<unknown> {
    const result = await httpRequest(this.name, this.url(path), { timeoutMs: this.timeoutMs, ...options });
    const what = `${this.name}: ${options.method ?? 'GET'} ${path}`;
    if (result.status >= 500) throw new BackendUnavailableError(`${what} answered HTTP ${result.status}`);
    if (result.status !== 200) throw new BackendRequestError(`${what} answered HTTP ${result.status}`);
    return parseJson(result, what);
  }

  /** The server's version (`comfyui_version` of /system_stats), or `unknown`. */
  async version(signal?: AbortSignal): Promise<string> {
    const stats = (await this.json('/system_stats', { signal })) as { system?: { comfyui_version?: unknown } };
    return typeof stats.system?.comfyui_version === 'string' ? stats.system.comfyui_version : 'unknown';
  }

  /** /object_info for one node class; undefined when the server has no such node. */
  async nodeInfo(classType: string, signal?: AbortSignal): Promise<{ input?: { required?: Record<string, unknown>; optional?: Record<string, unknown> } } | undefined> {
    const info = (await this.json(`/object_info/${encodeURIComponent(classType)}`, { signal })) as Record<string, unknown>;
    return (info[classType] as { input?: { required?: Record<string, unknown> } } | undefined) ?? undefined;
  }

  async queueRemaining(signal?: AbortSignal): Promise<number> {
    const info = (await this.json('/prompt', { signal })) as { exec_info?: { queue_remaining?: unknown } };
    const n = info.exec_info?.queue_remaining;
    return typeof n === 'number' ? n : 0;
  }

  /** Uploads an input image (overwriting one of the same name: our names are content-addressed). */
  async uploadImage(name: string, png: Buffer, signal?: AbortSignal): Promise<string> {
    const form = new FormData();
    form.append('image', new Blob([png], { type: 'image/png' }), name);
    form.append('type', 'input');
    form.append('overwrite', 'true');
    const answer = (await this.json('/upload/image', { method: 'POST', body: form, signal })) as { name?: unknown; subfolder?: unknown };
    if (typeof answer.name !== 'string') throw new BackendRequestError(`${this.name}: /upload/image answered without a file name`);
    return typeof answer.subfolder === 'string' && answer.subfolder ? `${answer.subfolder}/${answer.name}` : answer.name;
  }

  /** Queues a prompt; a validation failure is a BackendRequestError listing each node's problem. */
  async queuePrompt(graph: ComfyGraph, clientId: string, signal?: AbortSignal): Promise<{ promptId: string; sent: string }> {
    const sent = jsonWithBigInts({ prompt: graph, client_id: clientId });
    const result = await httpRequest(this.name, this.url('/prompt'), { method: 'POST', body: sent, signal, timeoutMs: this.timeoutMs });
    const what = `${this.name}: POST /prompt`;
    if (result.status >= 500) throw new BackendUnavailableError(`${what} answered HTTP ${result.status}`);
    const body = parseJson(result, what) as { prompt_id?: unknown };
    if (result.status !== 200) throw new BackendRequestError(`${what} rejected the graph: ${describePromptRejection(body)}`);
    if (typeof body.prompt_id !== 'string') throw new BackendRequestError(`${what} answered without a prompt_id`);
    return { promptId: body.prompt_id, sent };
  }

  /** GET /queue: the running and pending items, each `[number, prompt_id, prompt, extra_data, outputs]`. */
  async queue(signal?: AbortSignal): Promise<{ queue_running: unknown[]; queue_pending: unknown[] }> {
    const q = (await this.json('/queue', { signal })) as { queue_running?: unknown; queue_pending?: unknown };
    return { queue_running: Array.isArray(q.queue_running) ? q.queue_running : [], queue_pending: Array.isArray(q.queue_pending) ? q.queue_pending : [] };
  }

  async history(promptId: string, signal?: AbortSignal): Promise<ComfyHistoryEntry | undefined> {
    const all = (await this.json(`/history/${encodeURIComponent(promptId)}`, { signal })) as Record<string, ComfyHistoryEntry>;
    return all[promptId];
  }

  async view(ref: ComfyImageRef, signal?: AbortSignal): Promise<Buffer> {
    const result = await httpRequest(this.name, this.url('/view', { filename: ref.filename, subfolder: ref.subfolder, type: ref.type }), { signal, timeoutMs: this.timeoutMs });
    if (result.status !== 200) throw new BackendUnavailableError(`${this.name}: GET /view of ${ref.filename} answered HTTP ${result.status}`);
    return result.body;
  }

  /** Stops the running prompt and drops it from the queue if it has not started. */
  async interrupt(promptId: string): Promise<void> {
    await httpRequest(this.name, this.url('/interrupt'), { method: 'POST', json: { prompt_id: promptId }, timeoutMs: 5000 }).catch(() => undefined);
    await httpRequest(this.name, this.url('/queue'), { method: 'POST', json: { delete: [promptId] }, timeoutMs: 5000 }).catch(() => undefined);
  }

  /** Opens /ws?clientId= and resolves once it is open (a refused connection rejects). */
  openSocket(clientId: string, signal?: AbortSignal): Promise<WebSocket> {
    const url = this.url('/ws', { clientId });
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { handshakeTimeout: this.timeoutMs ?? 30_000, maxPayload: 64 * 1024 * 1024 });
      const fail = (error: Error) => {
        socket.removeAllListeners('open');
        reject(new BackendUnavailableError(`${this.name}: websocket /ws failed: ${error.message}`));
      };
      socket.once('error', fail);
      socket.once('open', () => {
        socket.off('error', fail);
        resolve(socket);
      });
      signal?.addEventListener('abort', () => socket.terminate(), { once: true });
    });
  }
}
