// HTTP for the render-server clients: bounded reads (a server's answer is foreign data), a timeout on
// every request, and errors that say which server and endpoint failed and whether trying again (on this
// server or another) can help.
import { CancelledError } from '../errors';

/** A render server could not be reached or failed in a way another try (or another server) may fix. */
export class BackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailableError';
  readonly retryable = true;
}

/** A render server refused the work for good (unknown model, invalid graph): retrying will not help. */
export class BackendRequestError extends Error {
  override readonly name = 'BackendRequestError';
  readonly retryable = false;
}

/** Answers larger than this are refused (object_info of a big install is a few MB; images are PNGs). */
export const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface HttpOptions {
  readonly method?: 'GET' | 'POST';
  readonly body?: string | FormData;
  readonly json?: unknown;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
  readonly maxBytes?: number;
}

export interface HttpResult {
  readonly status: number;
  readonly body: Buffer;
  readonly contentType: string;
}

/** One request; a refused connection or timeout is a BackendUnavailableError naming the server. */
export async function httpRequest(server: string, url: URL, options: HttpOptions = {}): Promise<HttpResult> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const what = `${server}: ${options.method ?? 'GET'} ${url.pathname}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: options.method ?? 'GET',
      body: options.json !== undefined ? JSON.stringify(options.json) : options.body,
      headers: options.json !== undefined || typeof options.body === 'string' ? { 'content-type': 'application/json' } : undefined,
      signal,
      redirect: 'error',
    });
  } catch (error) {
    if (options.signal?.aborted) throw new CancelledError();
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = timeout.aborted ? `no answer within ${(options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000} s` : cause?.code === 'ECONNREFUSED' ? 'connection refused (is the server running?)' : (cause?.message ?? (error as Error).message);
    throw new BackendUnavailableError(`${what} failed: ${reason}`);
  }
  const body = await readBounded(response, options.maxBytes ?? MAX_RESPONSE_BYTES, what, options.signal);
  return { status: response.status, body, contentType: response.headers.get('content-type') ?? '' };
}

async function readBounded(response: Response, maxBytes: number, what: string, signal?: AbortSignal): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) throw new BackendRequestError(`${what}: the answer is ${declared} bytes, more than the ${maxBytes} accepted`);
  const chunks: Buffer[] = [];
  let total = 0;
  if (!response.body) return Buffer.alloc(0);
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      if (total > maxBytes) throw new BackendRequestError(`${what}: the answer exceeds the ${maxBytes} bytes accepted`);
      chunks.push(Buffer.from(chunk));
    }
  } catch (error) {
    if (error instanceof BackendRequestError) throw error;
    if (signal?.aborted) throw new CancelledError();
    throw new BackendUnavailableError(`${what}: the connection broke while reading the answer (${(error as Error).message})`);
  }
  return Buffer.concat(chunks);
}

/** The body as JSON, or a BackendRequestError quoting the start of what came instead. */
export function parseJson(result: HttpResult, what: string): unknown {
  try {
    return JSON.parse(result.body.toString('utf8'));
  } catch {
    const start = result.body.subarray(0, 120).toString('utf8').replace(/\s+/g, ' ');
    throw new BackendRequestError(`${what}: expected JSON, got HTTP ${result.status} '${start}'`);
  }
}

/** Sleeps, or throws CancelledError when the signal fires first. */
export { abortableDelay as delay } from '../io/abortableDelay';
