// Quick fixes for the engine's "did you mean" diagnostics: an unknown key or value with a close match
// ('smapler' → 'sampler', 'karas' → 'karras'), and an absolute path that has a relative spelling.
import * as vscode from 'vscode';
import { LANGUAGE_ID } from '../scene/sceneAnalyzer';
import { DIAGNOSTIC_SOURCE } from './toDiagnostic';

const FIXES: Record<string, RegExp> = {
  'unknown-key': /did you mean '([^']+)'\?/,
  'unknown-value': /did you mean '([^']+)'\?/,
  'absolute-path': /write it relative to the scene \('([^']+)'\)/,
};

export class SuggestionQuickFix implements vscode.CodeActionProvider {
  static readonly metadata: vscode.CodeActionProviderMetadata = { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] };

  static register(): vscode.Disposable {
    return vscode.languages.registerCodeActionsProvider(LANGUAGE_ID, new SuggestionQuickFix(), SuggestionQuickFix.metadata);
  }

  /** Called by VS Code for the diagnostics under the cursor or selection. */
  provideCodeActions(document: vscode.TextDocument, _range: vscode.Range, context: vscode.CodeActionContext): vscode.CodeAction[] {
    const actions: vscode.CodeAction[] = [];
    for (const d of context.diagnostics) {
      if (d.source !== DIAGNOSTIC_SOURCE || typeof d.code !== 'string') continue;
      const replacement = FIXES[d.code]?.exec(d.message)?.[1];
      if (replacement === undefined) continue;
      const action = new vscode.CodeAction(`Change to '${replacement}'`, vscode.CodeActionKind.QuickFix);
      action.edit = new vscode.WorkspaceEdit();
      action.edit.replace(document.uri, d.range, replacement);
      action.diagnostics = [d];
      action.isPreferred = true;
      actions.push(action);
    }
    return actions;
  }
}
