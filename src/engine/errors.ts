// Typed errors thrown by the engine. Front ends (CLI, extension, tests) catch them at one boundary per
// entry point and turn them into diagnostics, messages or exit codes.

/** A zero-based position in a text document (line and UTF-16 column, as VS Code counts them). */
export interface SourcePosition {
  line: number;
  character: number;
}

/** A half-open range [start, end) in a text document. */
export interface SourceRange {
  start: SourcePosition;
  end: SourcePosition;
}

export type Severity = 'error' | 'warning' | 'info';

/** One problem found in a scene, located in its source text. */
export interface SceneDiagnostic {
  severity: Severity;
  message: string;
  range: SourceRange;
  /** A stable machine-readable code, e.g. `unknown-key`, `yaml-syntax`, `missing-file`. */
  code: string;
}

/** Formats a diagnostic the way compilers do: `file:line:col: error: message` (1-based line and column). */
export function formatDiagnostic(file: string, d: SceneDiagnostic): string {
  return `${file}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${d.severity}: ${d.message}`;
}

/** A scene is invalid. Carries every diagnostic found, not just the first. */
export class SceneError extends Error {
  override readonly name = 'SceneError';
  constructor(
    readonly file: string,
    readonly diagnostics: SceneDiagnostic[],
  ) {
    super(diagnostics.map((d) => formatDiagnostic(file, d)).join('\n') || `${file}: invalid scene`);
  }
}

/** A model folder or one of its files is missing, partial, corrupt or unsupported. */
export class ModelError extends Error {
  override readonly name = 'ModelError';
  constructor(
    message: string,
    /** The file (or folder) at fault. */
    readonly path?: string,
  ) {
    super(path ? `${path}: ${message}` : message);
  }
}

/** An input file (image, LoRA, PNG to inspect) is unreadable or malformed. */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    message: string,
    readonly path?: string,
  ) {
    super(path ? `${path}: ${message}` : message);
  }
}

/** The operation was cancelled through its AbortSignal. */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
  constructor(message = 'cancelled') {
    super(message);
  }
}

/** Throws CancelledError if the signal has fired. Call at every step boundary of long work. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError();
}

/** Asserts an internal invariant; the explanation says what should have held. */
export function assert(condition: unknown, explanation: string): asserts condition {
  if (!condition) throw new Error(`internal error: ${explanation}`);
}

/**
 * A file could not be written: its folder is read-only or missing, the disk is full, a file stands where a
 * folder should be... `reason` says so in words with the OS code (`cannot write the figure: permission
 * denied (EACCES)`). The user's problem, not a bug: it extends InputError, and keeps that name, so every
 * front end and the worker protocol, which know InputError, report it as a failed file rather than a crash.
 */
export class OutputError extends InputError {
  constructor(
    /** What failed and why, without the path. */
    readonly reason: string,
    override readonly path: string,
    /** The OS error code (EACCES, ENOSPC...). */
    readonly code?: string,
  ) {
    super(reason, path);
  }
}
