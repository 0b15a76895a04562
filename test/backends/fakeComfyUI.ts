// A loopback ComfyUI for tests: the endpoints, JSON shapes and websocket messages of ComfyUI's server.py
// and execution.py (validation errors as validate_inputs builds them, `executing` with node null when a
// prompt is done, binary preview frames with the 8-byte header), one prompt executed at a time, and our
// own engine rendering the Stable Diffusion graphs it is sent. It can be interrupted, restarted (losing
// its queue and history, as a real restart does) and shut down.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import sharp from 'sharp';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodePixelsToPng } from '../../src/engine/output/encodePng';
import { FakeEngine, type FakeRenderParams } from './fakeEngine';
import { objectInfo, readMultipart, reverseSampler, type Graph, type GraphNode } from './fakeComfyNodes';

export interface FakeComfyOptions {
  readonly checkpoints?: readonly string[];
  readonly loras?: readonly string[];
  /** ControlNet file → our hint type. */
  readonly controlnets?: Readonly<Record<string, string>>;
  /** Send JPEG previews on the socket while sampling. */
  readonly previews?: boolean;
  readonly version?: string;
  readonly port?: number;
}

interface QueueItem {
  readonly number: number;
  readonly promptId: string;
  readonly graph: Graph;
  readonly clientId: string;
}

export class FakeComfyUI {
  readonly engine = new FakeEngine();
  readonly received: { method: string; path: string }[] = [];
  readonly prompts: Graph[] = [];
  private server?: Server;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly connections = new Set<Socket>();
  private sockets = new Map<string, WebSocket>();
  private queue: QueueItem[] = [];
  private running?: { item: QueueItem; abort: AbortController };
  private history = new Map<string, unknown>();
  private inputs = new Map<string, Buffer>();
  private outputs = new Map<string, Buffer>();
  private number = 0;
  private generation = 0;
  port = 0;

  constructor(readonly options: FakeComfyOptions = {}) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res).catch((error: Error) => this.send(res, 500, { error: error.message })));
    server.on('connection', (socket) => {
      this.connections.add(socket);
      socket.on('close', () => this.connections.delete(socket));
    });
    server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== '/ws') {
        socket.destroy();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws, url.searchParams.get('clientId') || randomUUID().replace(/-/g, '')));
    });
    await new Promise<void>((resolve) => server.listen(this.options.port ?? this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Stops listening and drops every connection, as a crashed or restarting server does. */
  async kill(): Promise<void> {
    this.generation++;
    this.running?.abort.abort();
    for (const ws of this.sockets.values()) ws.terminate();
    for (const socket of this.connections) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
    this.sockets = new Map();
    this.queue = [];
    this.running = undefined;
    this.history = new Map();
  }

  /** A restart: down for `downMs`, then back on the same port with an empty queue and history. */
  async restart(downMs = 300): Promise<void> {
    await this.kill();
    await new Promise((r) => setTimeout(r, downMs));
    await this.start();
  }

  async close(): Promise<void> {
    await this.kill();
    this.wss.close();
    await this.engine.dispose();
  }

  /** Queue length as GET /prompt reports it. */
  get queueRemaining(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  private onSocket(ws: WebSocket, sid: string): void {
    this.sockets.set(sid, ws);
    ws.on('close', () => {
      if (this.sockets.get(sid) === ws) this.sockets.delete(sid);
    });
    this.message(sid, 'status', { status: this.queueInfo(), sid });
  }

  private queueInfo() {
    return { exec_info: { queue_remaining: this.queueRemaining } };
  }

  private message(sid: string | undefined, type: string, data: unknown): void {
    const text = JSON.stringify({ type, data });
    const targets = sid === undefined ? [...this.sockets.values()] : [this.sockets.get(sid)].filter((s): s is WebSocket => s !== undefined);
    for (const ws of targets) if (ws.readyState === ws.OPEN) ws.send(text);
  }

  private send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'content-type': type, 'content-length': bytes.length });
    res.end(bytes);
  }

  private async body(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/^\/api(?=\/)/, '');
    this.received.push({ method: req.method ?? 'GET', path });
    const info = objectInfo({ checkpoints: this.options.checkpoints ?? [], loras: this.options.loras ?? [], controlnets: Object.keys(this.options.controlnets ?? {}), inputs: [...this.inputs.keys()] });
    if (req.method === 'GET' && path === '/system_stats') {
      return this.send(res, 200, { system: { os: 'posix', comfyui_version: this.options.version ?? '0.3.76', python_version: '3.12', pytorch_version: '2.7', embedded_python: false, argv: ['main.py'] }, devices: [{ name: 'cpu', type: 'cpu', index: null }] });
    }
    if (req.method === 'GET' && path === '/object_info') return this.send(res, 200, info);
    if (req.method === 'GET' && path.startsWith('/object_info/')) {
      const name = decodeURIComponent(path.slice('/object_info/'.length));
      return this.send(res, 200, info[name] ? { [name]: info[name] } : {});
    }
    if (req.method === 'GET' && path === '/prompt') return this.send(res, 200, this.queueInfo());
    if (req.method === 'GET' && path === '/queue') {
      const row = (i: QueueItem) => [i.number, i.promptId, i.graph, { client_id: i.clientId }, []];
      return this.send(res, 200, { queue_running: this.running ? [row(this.running.item)] : [], queue_pending: this.queue.map(row) });
    }
    if (req.method === 'POST' && path === '/upload/image') {
      const form = readMultipart(await this.body(req), req.headers['content-type'] ?? '');
      const image = form.get('image');
      if (!image?.filename) return this.send(res, 400, '', 'text/plain');
      this.inputs.set(image.filename, image.data);
      return this.send(res, 200, { name: image.filename, subfolder: form.get('subfolder')?.data.toString() ?? '', type: 'input' });
    }
    if (req.method === 'POST' && path === '/prompt') return this.postPrompt(res, JSON.parse((await this.body(req)).toString()) as { prompt?: Graph; client_id?: string }, info);
    if (req.method === 'POST' && path === '/interrupt') {
      await this.body(req);
      this.running?.abort.abort();
      return this.send(res, 200, '', 'text/plain');
    }
    if (req.method === 'POST' && path === '/queue') {
      const body = JSON.parse((await this.body(req)).toString() || '{}') as { delete?: string[]; clear?: boolean };
      this.queue = body.clear ? [] : this.queue.filter((i) => !body.delete?.includes(i.promptId));
      return this.send(res, 200, '', 'text/plain');
    }
    if (req.method === 'GET' && path.startsWith('/history/')) {
      const id = decodeURIComponent(path.slice('/history/'.length));
      return this.send(res, 200, this.history.has(id) ? { [id]: this.history.get(id) } : {});
    }
    if (req.method === 'GET' && path === '/view') {
      const file = this.outputs.get(url.searchParams.get('filename') ?? '');
      return file && (url.searchParams.get('type') ?? 'output') === 'output' ? this.send(res, 200, file, 'image/png') : this.send(res, 404, '', 'text/plain');
    }
    return this.send(res, 404, '', 'text/plain');
  }

  /** Validation as execution.validate_prompt reports it, then the queue. */
  private postPrompt(res: ServerResponse, body: { prompt?: Graph; client_id?: string }, info: ReturnType<typeof objectInfo>): void {
    const graph = body.prompt;
    if (!graph) return this.send(res, 400, { error: { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} }, node_errors: {} });
    const nodeErrors: Record<string, unknown> = {};
    for (const [id, node] of Object.entries(graph)) {
      const spec = info[node.class_type];
      if (!spec) return this.send(res, 400, { error: { type: 'invalid_prompt', message: `Cannot execute because node ${node.class_type} does not exist.`, details: `Node ID '#${id}'`, extra_info: {} }, node_errors: {} });
      const errors = [];
      for (const [name, choice] of Object.entries(spec.input.required)) {
        const list = Array.isArray(choice[0]) ? choice[0] : choice[0] === 'COMBO' ? (choice[1] as { options: string[] }).options : undefined;
        const value = node.inputs[name];
        if (list && !Array.isArray(value) && !list.includes(value as string)) {
          const listInfo = list.length > 20 ? `(list of length ${list.length})` : `[${list.map((x) => `'${x}'`).join(', ')}]`;
          errors.push({ type: 'value_not_in_list', message: 'Value not in list', details: `${name}: '${String(value)}' not in ${listInfo}`, extra_info: { input_name: name, input_config: list.length > 20 ? null : choice, received_value: value } });
        }
      }
      if (errors.length) nodeErrors[id] = { errors, dependent_outputs: [], class_type: node.class_type };
    }
    if (Object.keys(nodeErrors).length) return this.send(res, 400, { error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '', extra_info: {} }, node_errors: nodeErrors });
    const item = { number: this.number++, promptId: randomUUID(), graph, clientId: body.client_id ?? '' };
    this.prompts.push(graph);
    this.queue.push(item);
    this.send(res, 200, { prompt_id: item.promptId, number: item.number, node_errors: {} });
    this.message(undefined, 'status', { status: this.queueInfo() });
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    const item = this.queue.shift();
    if (!item) return;
    const abort = new AbortController();
    this.running = { item, abort };
    const generation = this.generation;
    await this.execute(item, abort.signal).catch(() => undefined);
    if (generation !== this.generation) return;
    this.running = undefined;
    this.message(undefined, 'status', { status: this.queueInfo() });
    void this.pump();
  }

  private async execute(item: QueueItem, signal: AbortSignal): Promise<void> {
    const { promptId, clientId, graph } = item;
    const generation = this.generation;
    const now = () => Date.now();
    const messages: [string, unknown][] = [];
    const say = (type: string, data: Record<string, unknown>) => {
      const full = { ...data, prompt_id: promptId };
      if (type.startsWith('execution_')) messages.push([type, { ...full, timestamp: now() }]);
      this.message(clientId, type, type.startsWith('execution_') ? { ...full, timestamp: now() } : full);
    };
    say('execution_start', {});
    say('execution_cached', { nodes: [] });
    const ids = Object.keys(graph);
    const sampler = ids.find((id) => graph[id].class_type === 'KSampler') ?? '';
    const saveId = ids.find((id) => graph[id].class_type === 'SaveImage') ?? '';
    for (const id of ids.filter((i) => i !== sampler && i !== saveId)) say('executing', { node: id, display_node: id });
    say('executing', { node: sampler, display_node: sampler });
    try {
      const params = await this.paramsOf(graph, sampler);
      const image = await this.engine.render(
        params,
        (p) => {
          if (p.phase !== 'denoise' || p.step === 0) return;
          say('progress', { value: p.step, max: p.total, node: sampler });
          if (p.preview && this.options.previews) void this.sendPreview(clientId, p.preview);
        },
        signal,
        this.options.previews,
      );
      const filename = `imgprompt_${String(this.outputs.size + 1).padStart(5, '0')}_.png`;
      this.outputs.set(filename, await encodePixelsToPng({ ...image, channels: 3 }));
      say('executing', { node: saveId, display_node: saveId });
      const output = { images: [{ filename, subfolder: '', type: 'output' }] };
      say('executed', { node: saveId, display_node: saveId, output });
      this.history.set(promptId, { prompt: [item.number, promptId, graph, { client_id: clientId }, [saveId]], outputs: { [saveId]: output }, status: { status_str: 'success', completed: true, messages }, meta: {} });
      say('execution_success', {});
      say('executing', { node: null });
    } catch (error) {
      if (generation !== this.generation) return; // killed: a restarted server remembers nothing of it
      if (signal.aborted) say('execution_interrupted', { node_id: sampler, node_type: 'KSampler', executed: [] });
      else say('execution_error', { node_id: sampler, node_type: 'KSampler', executed: [], exception_message: (error as Error).message, exception_type: (error as Error).name, traceback: [], current_inputs: {}, current_outputs: {} });
      this.history.set(promptId, { prompt: [item.number, promptId, graph, {}, [saveId]], outputs: {}, status: { status_str: 'error', completed: false, messages }, meta: {} });
    }
  }

  private async sendPreview(clientId: string, preview: { data: Uint8Array; width: number; height: number }): Promise<void> {
    const jpeg = await sharp(Buffer.from(preview.data), { raw: { width: preview.width, height: preview.height, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
    const header = Buffer.alloc(8);
    header.writeUInt32BE(1, 0); // PREVIEW_IMAGE
    header.writeUInt32BE(1, 4); // JPEG
    const ws = this.sockets.get(clientId);
    if (ws?.readyState === ws?.OPEN) ws?.send(Buffer.concat([header, jpeg]));
  }

  /** The SD graph's values, followed link by link from the KSampler. */
  private async paramsOf(graph: Graph, samplerId: string): Promise<FakeRenderParams> {
    const node = (link: unknown): GraphNode => graph[(link as [string, number])[0]];
    const k = graph[samplerId].inputs;
    const loras: { name: string; weight: number }[] = [];
    let model = node(k.model);
    while (model.class_type === 'LoraLoader') {
      loras.unshift({ name: model.inputs.lora_name as string, weight: model.inputs.strength_model as number });
      model = node(model.inputs.model);
    }
    const control: FakeRenderParams['control'][number][] = [];
    const textOf = (link: unknown, slot: 'positive' | 'negative'): string => {
      const n = node(link);
      if (n.class_type === 'CLIPTextEncode') return n.inputs.text as string;
      if (n.class_type === 'ControlNetApplyAdvanced') {
        if (slot === 'positive') {
          const image = this.inputs.get(node(n.inputs.image).inputs.image as string) ?? Buffer.alloc(0);
          const type = this.options.controlnets?.[node(n.inputs.control_net).inputs.control_net_name as string] ?? 'raw';
          control.unshift({ type, image, strength: n.inputs.strength as number, start: n.inputs.start_percent as number, end: n.inputs.end_percent as number });
        }
        return textOf(n.inputs[slot], slot);
      }
      throw new Error(`the fake server renders CLIPTextEncode conditioning only, not ${n.class_type}`);
    };
    const prompt = textOf(k.positive, 'positive');
    const negative = textOf(k.negative, 'negative');
    const latent = node(k.latent_image);
    let size = { width: latent.inputs.width as number, height: latent.inputs.height as number };
    let init: FakeRenderParams['init'];
    if (latent.class_type === 'VAEEncode') {
      const image = this.inputs.get(node(latent.inputs.pixels).inputs.image as string) ?? Buffer.alloc(0);
      const meta = await sharp(image).metadata();
      size = { width: meta.width ?? 0, height: meta.height ?? 0 };
      init = { image, strength: k.denoise as number };
    }
    return {
      model: model.inputs.ckpt_name as string,
      prompt,
      negative,
      seed: String(k.seed),
      steps: k.steps as number,
      cfg: k.cfg as number,
      sampler: reverseSampler(k.sampler_name as string),
      schedule: k.scheduler as string,
      ...size,
      loras,
      control,
      init,
    };
  }
}
