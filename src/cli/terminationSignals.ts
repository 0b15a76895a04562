// How the CLI process stops when asked to. SIGINT (Ctrl+C), SIGTERM (kill, CI timeouts, `docker stop`) and
// SIGHUP (the terminal closed) abort the work through its AbortSignal, so a render stops at its next step
// boundary, an unfinished figure's temporary file is removed, and the process exits with 128 + the signal's
// number. A second signal exits at once; writeFileAtomic's exit hook still removes its temporaries then.
import { CancelledError } from '../engine/errors';

/** Exit code of a run stopped by each signal handled: 128 + its number, as shells report it. */
export const SIGNAL_EXIT_CODES = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;

export type TerminationSignal = keyof typeof SIGNAL_EXIT_CODES;

/** The abort reason when a signal stopped the work: a CancelledError, as anything awaiting it expects. */
export class InterruptedError extends CancelledError {
  constructor(readonly signal: TerminationSignal) {
    super(`interrupted (${signal})`);
  }
}

/** Aborts `controller` with an InterruptedError on the first termination signal; exits on the second. */
export function abortOnTerminationSignals(controller: AbortController): void {
  for (const name of Object.keys(SIGNAL_EXIT_CODES) as TerminationSignal[]) {
    process.on(name, () => {
      if (controller.signal.aborted) process.exit(exitCodeOfAbort(controller.signal));
      controller.abort(new InterruptedError(name));
    });
  }
}

/** The exit code of work cancelled through `signal`: its signal's code, else 130 (cancelled). */
export function exitCodeOfAbort(signal: AbortSignal): number {
  const reason: unknown = signal.reason;
  return reason instanceof InterruptedError ? SIGNAL_EXIT_CODES[reason.signal] : SIGNAL_EXIT_CODES.SIGINT;
}
