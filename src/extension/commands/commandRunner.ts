// The one wrapper every command runs through: errors become a message of the right severity (engine
// errors as their own precise text, UserError as written, cancellation as nothing), unexpected ones are
// logged with their stack and offer the log. A command never fails silently or throws into VS Code.
import * as vscode from 'vscode';
import { describeError } from '../util/describeError';
import type { CommandId } from './commandIds';

export class CommandRunner {
  constructor(private readonly log: vscode.LogOutputChannel) {}

  register(id: CommandId, title: string, handler: (...args: unknown[]) => unknown): vscode.Disposable {
    return vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        return await handler(...args);
      } catch (error) {
        this.report(title, error);
        return undefined;
      }
    });
  }

  /** Shows `error` to the user as `what` failing; also used by entry points that are not commands. */
  report(what: string, error: unknown): void {
    const shown = describeError(error, what);
    if (shown.unexpected) this.log.error(`${what}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    else this.log.info(shown.message);
    if (shown.severity === 'silent') return;
    const buttons = [...shown.actions.map((a) => a.title), ...(shown.unexpected ? ['Show Log'] : [])];
    const show = shown.severity === 'info' ? vscode.window.showInformationMessage : shown.severity === 'warning' ? vscode.window.showWarningMessage : vscode.window.showErrorMessage;
    void Promise.resolve(show(shown.message, ...buttons)).then((choice) => {
      if (choice === 'Show Log') this.log.show(true);
      const action = shown.actions.find((a) => a.title === choice);
      if (action) void vscode.commands.executeCommand(action.command, ...(action.args ?? []));
    });
  }
}
