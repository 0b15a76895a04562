// The A1111-compatible backend (AUTOMATIC1111 webui, Forge, and servers that copy its API): the model is
// checked against /sdapi/v1/sd-models (an unknown name lists the installed ones), the payload is POSTed to
// /sdapi/v1/txt2img or img2img, /sdapi/v1/progress is polled meanwhile for steps and preview images, and
// cancelling calls /sdapi/v1/interrupt. The webui answers when the render ends, with base64 PNGs and an
// `info` JSON string that carries its version.
import { CancelledError, ModelError } from '../../errors';
import type { BackendRender, BackendRenderOptions, RenderBackend } from '../../render/RenderBackend';
import type { RenderJob } from '../../render/renderJob';
import { StageTimings } from '../../render/StageTimings';
import { jsonWithBigInts } from '../comfyui/comfyGraph';
import { BackendRequestError, BackendUnavailableError, delay, httpRequest, parseJson, type HttpOptions } from '../http';
import { decodeServerImage } from '../remoteImage';
import { remoteRequestFromJob } from '../remoteRequest';
import type { RemoteServerConfig } from '../remoteServer';
import { buildA1111Payload } from './a1111Payload';

const PROGRESS_POLL_MS = 250;
/** A render may take long on a busy server; a request that outlives this is given up. */
const RENDER_TIMEOUT_MS = 30 * 60_000;

interface SdModelItem {
  title?: string;
  model_name?: string;
  filename?: string;
}

export class A1111Backend implements RenderBackend {
  readonly name: string;
  readonly runtimeVersion = 'a1111';
  private readonly base: URL;

  constructor(readonly server: RemoteServerConfig) {
    this.name = `a1111:${server.name}`;
    this.base = new URL(server.url.endsWith('/') ? server.url : `${server.url}/`);
  }

  private async call(path: string, options: HttpOptions = {}): Promise<unknown> {
    const what = `${this.server.name}: ${options.method ?? 'GET'} ${path}`;
    const result = await httpRequest(this.server.name, new URL(path.replace(/^\//, ''), this.base), { timeoutMs: this.server.timeoutMs, ...options });
    if (result.status === 502 || result.status === 503 || result.status === 504) throw new BackendUnavailableError(`${what} answered HTTP ${result.status}`);
    if (result.status !== 200) {
      const body = (() => {
        try {
          return parseJson(result, what) as { detail?: unknown; error?: unknown; errors?: unknown };
        } catch {
          return {};
        }
      })();
      const detail = [body.error, body.detail, body.errors].filter((x) => typeof x === 'string' && x).join(': ');
      throw new BackendRequestError(`${what} answered HTTP ${result.status}${detail ? `: ${detail}` : ''}`);
    }
    return parseJson(result, what);
  }

  /** The checkpoint as the webui names it: a title, model name or file name it lists. */
  private async checkModel(model: string, signal?: AbortSignal): Promise<void> {
    const models = (await this.call('/sdapi/v1/sd-models', { signal })) as SdModelItem[];
    if (!Array.isArray(models)) throw new BackendRequestError(`${this.server.name}: /sdapi/v1/sd-models did not answer a list`);
    const known = (m: SdModelItem) => [m.title, m.model_name, m.filename?.split(/[\\/]/).pop()].includes(model);
    if (!models.some(known)) {
      const names = models.map((m) => m.title ?? m.model_name).filter(Boolean);
      throw new ModelError(`${this.server.name} has no checkpoint '${model}'; available: ${names.length ? names.slice(0, 50).join(', ') : 'none installed'}`);
    }
  }

  async render(job: RenderJob, options: BackendRenderOptions = {}): Promise<BackendRender> {
    const { signal, onProgress } = options;
    const timings = new StageTimings();
    const request = await remoteRequestFromJob(job, this.server);
    const { endpoint, payload } = buildA1111Payload(request);
    await this.checkModel(request.model, signal);
    const body = jsonWithBigInts(payload);
    const local = new AbortController();
    const onAbort = () => {
      void httpRequest(this.server.name, new URL('sdapi/v1/interrupt', this.base), { method: 'POST', timeoutMs: 5000 }).catch(() => undefined);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const rendering = this.call(`/sdapi/v1/${endpoint}`, { method: 'POST', body, timeoutMs: RENDER_TIMEOUT_MS });
    // Followed until the render answers; stopping it never fails the render.
    const following = this.followProgress(job, options, local.signal).catch(() => undefined);
    try {
      const answer = await Promise.race([
        rendering,
        new Promise<never>((_, reject) => {
          if (signal?.aborted) reject(new CancelledError());
          signal?.addEventListener('abort', () => reject(new CancelledError()), { once: true });
        }),
      ]);
      const { images, info } = answer as { images?: unknown; info?: unknown };
      if (!Array.isArray(images) || typeof images[0] !== 'string') throw new BackendRequestError(`${this.server.name}: /sdapi/v1/${endpoint} answered without an image`);
      const image = await decodeServerImage(Buffer.from(images[0], 'base64'), `${this.server.name}: ${endpoint}`, { width: request.width, height: request.height });
      onProgress?.({ phase: 'decode', step: request.steps, total: request.steps });
      return { image, hints: [], loras: [], warnings: [], timings: timings.report(), provenance: { api: 'a1111', server: this.server.name, version: versionOf(info), request: `{"endpoint":"/sdapi/v1/${endpoint}","payload":${body}}`, reproducibility: 'recipe-reproducible' } };
    } finally {
      local.abort();
      signal?.removeEventListener('abort', onAbort);
      rendering.catch(() => undefined);
      await following;
    }
  }

  /** Polls /sdapi/v1/progress: sampling step and (when asked) the current image as a preview. */
  private async followProgress(job: RenderJob, options: BackendRenderOptions, stop: AbortSignal): Promise<void> {
    let last = -1;
    while (!stop.aborted) {
      await delay(PROGRESS_POLL_MS, stop);
      const p = (await this.call(`/sdapi/v1/progress?skip_current_image=${options.previews ? 'false' : 'true'}`, { signal: stop, timeoutMs: 5000 }).catch(() => undefined)) as
        | { state?: { sampling_step?: unknown; sampling_steps?: unknown }; current_image?: unknown }
        | undefined;
      const step = typeof p?.state?.sampling_step === 'number' ? p.state.sampling_step : -1;
      const total = typeof p?.state?.sampling_steps === 'number' && p.state.sampling_steps > 0 ? p.state.sampling_steps : job.recipe.steps;
      if (step < 0 || step === last || stop.aborted) continue;
      last = step;
      const preview = options.previews && typeof p?.current_image === 'string' && p.current_image ? await decodeServerImage(Buffer.from(p.current_image, 'base64'), `${this.server.name}: preview`).catch(() => undefined) : undefined;
      if (!stop.aborted) options.onProgress?.({ phase: 'denoise', step, total, preview });
    }
  }

  async dispose(): Promise<void> {}
}

/** The webui's version from the `info` JSON of a render answer (`version`), else `unknown`. */
function versionOf(info: unknown): string {
  if (typeof info !== 'string') return 'unknown';
  try {
    const parsed = JSON.parse(info) as { version?: unknown };
    return typeof parsed.version === 'string' ? parsed.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
