// HTTP for the hubs: the token goes only to the hub's own origin (never to the CDN a download is
// redirected to, never into a message), 401/403 are explained in words a user can act on, and 429 is
// waited out as its Retry-After says, within a bound, before giving up with the wait it asked for.
import { abortableDelay } from '../io/abortableDelay';
import { CancelledError, ModelError } from '../errors';

export interface HubEndpoint {
  /** The hub's origin, e.g. https://huggingface.co (HF_ENDPOINT) or https://civitai.com. */
  url: string;
  /** Sent as `Authorization: Bearer` to `url`'s origin only. */
  token?: string;
  /** What the token is called where the user sets it, for messages (`HF_TOKEN`). */
  tokenName: string;
}

/** Longest single Retry-After wait honoured before giving up (seconds). */
export const MAX_RETRY_AFTER_S = 60;
const MAX_RATE_LIMIT_RETRIES = 3;

/** Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  if (/^\d{1,9}$/.test(text)) return Number(text);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

/** Text from a server, shortened and stripped of control characters before it goes into a message. */
export function serverText(text: string | null | undefined, max = 200): string {
  if (!text) return '';
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** Removes every occurrence of the token from a message, however a library or server echoed it. */
export function withoutToken(message: string, token: string | undefined): string {
  return token && token.length >= 4 ? message.split(token).join('<token>') : message;
}

export function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}


/** The error for a refused request, saying what the status means for this hub and what to do. */
export function refusalError(status: number, what: string, endpoint: HubEndpoint, headers: Headers, pageUrl: string): ModelError {
  const code = headers.get('x-error-code') ?? '';
  const said = serverText(headers.get('x-error-message'));
  const detail = said ? ` (the hub said: ${said})` : '';
  const tokenState = endpoint.token ? `the token in ${endpoint.tokenName} was sent` : `no token was sent (${endpoint.tokenName} is not set)`;
  if (status === 401) {
    return new ModelError(
      `${what}: HTTP 401 ${code || 'Unauthorized'}${detail}: the model is private, gated, or does not exist, and ${tokenState}; set ${endpoint.tokenName} to a token that can read ${pageUrl}`,
    );
  }
  if (status === 403) {
    const gated = code === 'GatedRepo' || /gated|restricted/i.test(said);
    const fix = gated ? `accept the model's conditions at ${pageUrl} with the account of the token in ${endpoint.tokenName}, then retry` : `use a token in ${endpoint.tokenName} that has read access to ${pageUrl}`;
    return new ModelError(`${what}: HTTP 403 ${code || 'Forbidden'}${detail}: ${tokenState} but it has no access; ${fix}`);
  }
  if (status === 429) {
    const wait = retryAfterSeconds(headers.get('retry-after'));
    return new ModelError(`${what}: HTTP 429 Too Many Requests: the hub is rate-limiting this machine${wait !== undefined ? ` and asked to wait ${wait} s` : ''}; try again later${endpoint.token ? '' : `, or set ${endpoint.tokenName} (signed-in requests get a higher limit)`}`);
  }
  if (status === 404) return new ModelError(`${what}: HTTP 404 ${code || 'Not Found'}${detail}: check the name and revision at ${pageUrl}`);
  return new ModelError(`${what}: the hub answered HTTP ${status}${detail}`);
}

export interface HubFetchOptions {
  endpoint: HubEndpoint;
  /** For messages: what is being fetched (`hf:org/name@main`). */
  what: string;
  /** The model's page, for messages. */
  pageUrl: string;
  signal?: AbortSignal;
  /** Called before waiting out a 429 (seconds). */
  onWait?: (seconds: number) => void;
}

/**
 * A fetch for the hub: adds the token for the hub's origin only, waits out 429s (Retry-After, at most
 * MAX_RETRY_AFTER_S each, three times) and turns 401/403/429 into explained ModelErrors. Other statuses
 * are returned to the caller. Usable as the `fetch` of @huggingface/hub's calls.
 */
export function hubFetch(options: HubFetchOptions): typeof fetch {
  const { endpoint, signal } = options;
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const headers = new Headers(init?.headers);
    // The library adds the token itself when given one; we give it none and add it here, origin-checked.
    headers.delete('authorization');
    if (endpoint.token && sameOrigin(url, endpoint.url)) headers.set('authorization', `Bearer ${endpoint.token}`);
    let networkRetries = 0;
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw new CancelledError();
      let response: Response;
      try {
        response = await fetch(url, { ...init, headers, signal: init?.signal ?? signal });
      } catch (error) {
        if (signal?.aborted) throw new CancelledError();
        // A pooled keep-alive connection the server closed as we reused it: these requests are
        // idempotent (GET/HEAD), so try again on a fresh connection before calling the hub unreachable.
        if (networkRetries++ < 2) {
          await abortableDelay(100 * networkRetries, signal);
          attempt--;
          continue;
        }
        const reason = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
        throw new ModelError(`${options.what}: cannot reach ${new URL(url).origin}: ${withoutToken(reason, endpoint.token)} (set HF_HUB_OFFLINE=1 to use only what is already downloaded)`);
      }
      if (response.status === 429) {
        const wait = retryAfterSeconds(response.headers.get('retry-after')) ?? 1;
        if (attempt < MAX_RATE_LIMIT_RETRIES && wait <= MAX_RETRY_AFTER_S) {
          await response.body?.cancel();
          options.onWait?.(wait);
          await abortableDelay(wait * 1000, signal);
          continue;
        }
      }
      if (response.status === 401 || response.status === 403 || response.status === 429) {
        await response.body?.cancel();
        throw refusalError(response.status, options.what, endpoint, response.headers, options.pageUrl);
      }
      return response;
    }
  };
}
