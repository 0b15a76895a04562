// Waiting that a render's cancellation cuts short: retries and polls (hub downloads, render servers)
// sleep through this so Cancel never waits out a Retry-After or a poll interval.
import { CancelledError } from '../errors';

/** Sleeps `ms`, or rejects with CancelledError as soon as `signal` fires. */
export function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CancelledError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
