// Turns anything a command can throw into what the user should see: engine errors (SceneError,
// ModelError, InputError) as their own precise messages, cancellation as nothing, UserError as written,
// and anything else as an unexpected failure that points at the log. Pure, unit-tested.
import { CancelledError, InputError, ModelError, SceneError, formatDiagnostic } from '../../engine/editor';
import { UserError, type UserErrorAction, type UserErrorSeverity } from './userError';

export interface ErrorPresentation {
  /** `silent`: log only (the user cancelled). */
  severity: UserErrorSeverity | 'silent';
  message: string;
  actions: readonly UserErrorAction[];
  /** True for failures we did not anticipate: the message offers the log, the log gets the stack. */
  unexpected: boolean;
}

/** At most this many scene diagnostics are listed in a message; the Problems panel has the rest. */
const MAX_LISTED = 3;

export function describeError(error: unknown, what: string): ErrorPresentation {
  if (error instanceof CancelledError || (error instanceof Error && error.name === 'AbortError')) {
    return { severity: 'silent', message: `${what}: cancelled`, actions: [], unexpected: false };
  }
  if (error instanceof UserError) return { severity: error.severity, message: error.message, actions: error.actions, unexpected: false };
  if (error instanceof SceneError) {
    const listed = error.diagnostics.slice(0, MAX_LISTED).map((d) => formatDiagnostic(error.file, d));
    const more = error.diagnostics.length - listed.length;
    const tail = more > 0 ? ` (and ${more} more; see the Problems panel)` : '';
    return { severity: 'error', message: `${what}: ${listed.join('; ') || `${error.file}: invalid scene`}${tail}`, actions: [], unexpected: false };
  }
  if (error instanceof ModelError || error instanceof InputError) {
    return { severity: 'error', message: `${what}: ${error.message}`, actions: [], unexpected: false };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { severity: 'error', message: `${what} failed unexpectedly: ${message}`, actions: [], unexpected: true };
}
