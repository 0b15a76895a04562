// A loopback AUTOMATIC1111 webui API for tests (modules/api/api.py + models.py shapes): sd-models, txt2img
// and img2img with override_settings, LoRA prompt tags and ControlNet alwayson_scripts, progress with the
// current image, interrupt. One render at a time (the webui's queue lock), rendered by our engine.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import sharp from 'sharp';
import { encodePixelsToPng } from '../../src/engine/output/encodePng';
import { A1111_SAMPLERS } from '../../src/engine/backends/a1111/a1111Payload';
import { FakeEngine, type FakeRenderParams } from './fakeEngine';
import { reverseSampler } from './fakeComfyNodes';

export interface FakeA1111Options {
  /** Checkpoint model names (titles get a fake short hash). */
  readonly checkpoints?: readonly string[];
  /** ControlNet model name → our hint type. */
  readonly controlnets?: Readonly<Record<string, string>>;
  readonly version?: string;
}

export class FakeA1111 {
  readonly engine = new FakeEngine();
  readonly payloads: Record<string, unknown>[] = [];
  readonly received: string[] = [];
  private server?: Server;
  private readonly connections = new Set<Socket>();
  private lock: Promise<unknown> = Promise.resolve();
  private current?: AbortController;
  private state = { sampling_step: 0, sampling_steps: 0, job_count: 0, interrupted: false };
  private currentImage: string | null = null;
  port = 0;

  constructor(readonly options: FakeA1111Options = {}) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res).catch((e: Error) => this.send(res, 500, { error: 'Exception', detail: '', body: '', errors: e.message })));
    server.on('connection', (s) => {
      this.connections.add(s);
      s.on('close', () => this.connections.delete(s));
    });
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', r));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  async kill(): Promise<void> {
    this.current?.abort();
    for (const s of this.connections) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = undefined;
  }

  async close(): Promise<void> {
    await this.kill();
    await this.engine.dispose();
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    const bytes = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length });
    res.end(bytes);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    this.received.push(`${req.method} ${url.pathname}`);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) : {};
    if (req.method === 'GET' && url.pathname === '/sdapi/v1/sd-models') {
      return this.send(res, 200, (this.options.checkpoints ?? []).map((name) => ({ title: `${name}.safetensors [0123456789]`, model_name: name, hash: '0123456789', sha256: null, filename: `/webui/models/Stable-diffusion/${name}.safetensors`, config: null })));
    }
    if (req.method === 'GET' && url.pathname === '/sdapi/v1/progress') {
      const { sampling_step, sampling_steps, job_count, interrupted } = this.state;
      return this.send(res, 200, {
        progress: sampling_steps ? sampling_step / sampling_steps : 0,
        eta_relative: 0,
        state: { skipped: false, interrupted, job: job_count ? 'txt2img' : '', job_count, job_timestamp: '20261207000000', job_no: 0, sampling_step, sampling_steps },
        current_image: url.searchParams.get('skip_current_image') === 'true' ? null : this.currentImage,
        textinfo: null,
      });
    }
    if (req.method === 'POST' && url.pathname === '/sdapi/v1/interrupt') {
      this.state.interrupted = true;
      this.current?.abort();
      return this.send(res, 200, {});
    }
    if (req.method === 'POST' && (url.pathname === '/sdapi/v1/txt2img' || url.pathname === '/sdapi/v1/img2img')) {
      this.payloads.push(body);
      const run = this.lock.then(() => this.render(body, url.pathname.endsWith('img2img')));
      this.lock = run.catch(() => undefined);
      try {
        return this.send(res, 200, await run);
      } catch (e) {
        return this.send(res, 500, { error: (e as Error).name, detail: '', body: '', errors: (e as Error).message });
      }
    }
    return this.send(res, 404, { detail: 'Not Found' });
  }

  private async render(p: Record<string, unknown>, img2img: boolean): Promise<unknown> {
    const checkpoint = (p.override_settings as { sd_model_checkpoint?: string } | undefined)?.sd_model_checkpoint ?? '';
    const model = (this.options.checkpoints ?? []).find((name) => checkpoint === name || checkpoint.startsWith(`${name}.safetensors`)) ?? checkpoint;
    const loras: { name: string; weight: number }[] = [];
    const prompt = String(p.prompt ?? '').replace(/<lora:([^:>]+):([^>]+)>/g, (_m, name: string, w: string) => {
      loras.push({ name, weight: Number(w) });
      return '';
    }).trim();
    const units = ((p.alwayson_scripts as { controlnet?: { args?: Record<string, unknown>[] } } | undefined)?.controlnet?.args ?? []).filter((u) => u.enabled);
    const sampler = Object.entries(A1111_SAMPLERS).find(([, name]) => name === p.sampler_name)?.[0] ?? 'euler';
    const schedule = p.scheduler === 'Karras' ? 'karras' : 'normal';
    let init: FakeRenderParams['init'];
    let size = { width: Number(p.width), height: Number(p.height) };
    if (img2img) {
      const image = Buffer.from(String((p.init_images as string[])[0]), 'base64');
      const meta = await sharp(image).metadata();
      size = { width: meta.width ?? 0, height: meta.height ?? 0 };
      init = { image, strength: Number(p.denoising_strength) };
    }
    const params: FakeRenderParams = {
      model,
      prompt,
      negative: String(p.negative_prompt ?? ''),
      seed: String(p.seed),
      steps: Number(p.steps),
      cfg: Number(p.cfg_scale),
      sampler: reverseSampler(sampler),
      schedule,
      ...size,
      loras,
      control: units.map((u) => ({ type: this.options.controlnets?.[String(u.model)] ?? 'raw', image: Buffer.from(String(u.image), 'base64'), strength: Number(u.weight), start: Number(u.guidance_start), end: Number(u.guidance_end) })),
      init,
    };
    const abort = new AbortController();
    this.current = abort;
    this.state = { sampling_step: 0, sampling_steps: params.steps, job_count: 1, interrupted: false };
    let image;
    try {
      image = await this.engine.render(
        params,
        (progress) => {
          if (progress.phase !== 'denoise' || progress.step === 0) return;
          this.state.sampling_step = progress.step;
          if (progress.preview) void encodePixelsToPng({ ...progress.preview, channels: 3 }).then((png) => (this.currentImage = png.toString('base64')));
        },
        abort.signal,
        true,
      );
    } catch (error) {
      // An interrupted webui still answers 200 with what it has; ours has no partial image to give.
      if (abort.signal.aborted) return { images: [], parameters: p, info: '{}' };
      throw error;
    } finally {
      this.state = { sampling_step: 0, sampling_steps: 0, job_count: 0, interrupted: this.state.interrupted };
      this.currentImage = null;
      this.current = undefined;
    }
    {
      const png = await encodePixelsToPng({ ...image, channels: 3 });
      const info = { prompt: params.prompt, negative_prompt: params.negative, seed: Number(params.seed), sampler_name: p.sampler_name, steps: params.steps, cfg_scale: params.cfg, width: params.width, height: params.height, sd_model_name: model, version: this.options.version ?? 'v1.10.1' };
      return { images: [png.toString('base64')], parameters: p, info: JSON.stringify(info) };
    }
  }
}
