// An error meant for the user as it stands (no stack, no "internal error"): a precondition the user can
// fix, such as "open a folder first" or "rendering is off in Restricted Mode". Pure: no vscode import, so
// the messages are unit-tested in plain Node.

/** A button on the message: runs `command` with `args` when clicked. */
export interface UserErrorAction {
  title: string;
  command: string;
  args?: unknown[];
}

export type UserErrorSeverity = 'info' | 'warning' | 'error';

export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(
    message: string,
    readonly severity: UserErrorSeverity = 'error',
    readonly actions: readonly UserErrorAction[] = [],
  ) {
    super(message);
  }
}
