// Composition root of the VS Code extension: builds the services in dependency order and tracks them
// for disposal. Heavy modules (engine, onnxruntime) load lazily, never at activation.
import * as vscode from 'vscode';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('imgprompt', { log: true });
  context.subscriptions.push(log);
  log.info('imgprompt activated');
}

export function deactivate(): void {}
