// Problems of every open scene in the Problems panel and as squiggles: checked when a scene opens or is
// saved, ~250 ms after typing stops, and again when settings or files on disk change; cleared when its
// last tab closes (VS Code may keep a closed document alive for minutes, so onDidClose comes late).
// Also says when the scene's PNG is missing or out of date (an Information on the `output` line).
import { statSync } from 'node:fs';
import { relative } from 'node:path';
import * as vscode from 'vscode';
import { diagnosticsForLicences, hasErrors } from '../../engine/editor';
import { LicenceCache } from './licenceCache';
import type { OutputReport, OutputStatus } from '../render/outputStatus';
import { LANGUAGE_ID, type DocumentAnalysis, type SceneAnalyzer } from '../scene/sceneAnalyzer';
import { Disposable } from '../util/disposable';
import { DIAGNOSTIC_SOURCE, toDiagnostic, toRange } from './toDiagnostic';

export const TYPING_DELAY_MS = 250;

/** The document a tab shows (the modified side of a diff). */
function tabUri(tab: vscode.Tab): vscode.Uri | undefined {
  const input = tab.input;
  if (input instanceof vscode.TabInputText) return input.uri;
  if (input instanceof vscode.TabInputTextDiff) return input.modified;
  return undefined;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export class SceneDiagnostics extends Disposable {
  private readonly collection = this.register(vscode.languages.createDiagnosticCollection(DIAGNOSTIC_SOURCE));
  private readonly pending = new Map<string, ReturnType<typeof setTimeout>>();
  /** Documents still open in the extension host whose last tab was closed: not checked until shown again. */
  private readonly hidden = new Set<string>();
  private readonly licences = new LicenceCache();

  static register(analyzer: SceneAnalyzer, outputStatus: OutputStatus, log: vscode.LogOutputChannel): SceneDiagnostics {
    return new SceneDiagnostics(analyzer, outputStatus, log);
  }

  private constructor(
    private readonly analyzer: SceneAnalyzer,
    private readonly outputStatus: OutputStatus,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.register(vscode.workspace.onDidOpenTextDocument((d) => {
      this.hidden.delete(d.uri.toString());
      this.update(d);
    }));
    this.register(vscode.window.tabGroups.onDidChangeTabs((e) => this.tabsChanged(e)));
    this.register(vscode.workspace.onDidSaveTextDocument((d) => this.update(d)));
    this.register(vscode.workspace.onDidChangeTextDocument((e) => e.contentChanges.length && this.schedule(e.document)));
    this.register(vscode.workspace.onDidCloseTextDocument((d) => {
      this.hidden.delete(d.uri.toString());
      this.clear(d.uri);
    }));
    this.register(analyzer.onDidInvalidate(() => vscode.workspace.textDocuments.forEach((d) => this.schedule(d))));
    this.register(outputStatus.onDidChange((uri) => {
      const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
      if (document) this.update(document);
    }));
    this.register({ dispose: () => this.pending.forEach((timer) => clearTimeout(timer)) });
    vscode.workspace.textDocuments.forEach((d) => this.update(d));
  }

  private tabsChanged(e: vscode.TabChangeEvent): void {
    const shown = new Set(vscode.window.tabGroups.all.flatMap((g) => g.tabs).map(tabUri).filter((u) => u !== undefined).map(String));
    for (const uri of e.closed.map(tabUri)) {
      if (!uri || shown.has(uri.toString()) || !this.collection.has(uri)) continue;
      this.hidden.add(uri.toString());
      this.clear(uri);
    }
    for (const uri of e.opened.map(tabUri)) {
      if (!uri || !this.hidden.delete(uri.toString())) continue;
      const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
      if (document) this.update(document);
    }
  }

  private schedule(document: vscode.TextDocument): void {
    if (document.languageId !== LANGUAGE_ID || this.hidden.has(document.uri.toString())) return;
    const key = document.uri.toString();
    clearTimeout(this.pending.get(key));
    this.pending.set(key, setTimeout(() => {
      this.pending.delete(key);
      if (!document.isClosed) this.update(document);
    }, TYPING_DELAY_MS));
  }

  private clear(uri: vscode.Uri): void {
    const key = uri.toString();
    clearTimeout(this.pending.get(key));
    this.pending.delete(key);
    this.collection.delete(uri);
  }

  /** Checks `document` now. Never throws: a failure is logged, and the scene keeps its previous problems. */
  update(document: vscode.TextDocument): void {
    if (document.languageId !== LANGUAGE_ID || this.hidden.has(document.uri.toString())) return;
    const key = document.uri.toString();
    clearTimeout(this.pending.get(key));
    this.pending.delete(key);
    try {
      const result = this.analyzer.analyze(document);
      const diagnostics = result.diagnostics.map((d) => toDiagnostic(d, result.parsed, document.uri));
      // Licence against purpose: read asynchronously (model cards, safetensors headers), then shown.
      const resolved = result.analysis?.resolved;
      const version = document.version;
      const licences = resolved && this.licences.get(resolved, () => !document.isClosed && document.version === version && this.update(document));
      if (resolved && licences) diagnostics.push(...diagnosticsForLicences(resolved, licences).map((d) => toDiagnostic(d, result.parsed, document.uri)));
      const output = this.outputDiagnostic(document, result);
      if (output) diagnostics.push(output);
      this.collection.set(document.uri, diagnostics);
    } catch (error) {
      this.log.error(`checking ${document.uri.fsPath || key} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }

  /** "Output missing" (from a stat) or what the renderer reported; only for scenes without errors. */
  private outputDiagnostic(document: vscode.TextDocument, result: DocumentAnalysis): vscode.Diagnostic | undefined {
    if (hasErrors(result.diagnostics) || !result.context) return undefined;
    const output = this.analyzer.outputPath(document, result);
    if (!output) return undefined;
    let state: OutputReport['freshness'] | undefined = this.outputStatus.reported(document.uri, output);
    // A reported "missing" may be stale (the PNG was written since); a stat settles it. An existing PNG
    // that the renderer has not compared yet is neither flagged nor called up to date.
    if (state === undefined || state.state === 'missing') state = isFile(output) ? undefined : { state: 'missing' };
    if (!state || state.state === 'up-to-date') return undefined;
    const shown = relative(result.context.projectRoot, output).split('\\').join('/') || output;
    const how = vscode.workspace.isTrusted ? 'save the scene or run "imgprompt: Render" to create it' : 'rendering needs a trusted workspace';
    const message =
      state.state === 'missing'
        ? `output ${shown} has not been rendered yet; ${how}`
        : `output ${shown} is out of date${state.reason ? ` (${state.reason})` : ''}; ${how.replace('create', 'update')}`;
    const where = result.parsed.locations.get('output')?.value ?? result.parsed.lines.lineRange(0);
    const diagnostic = new vscode.Diagnostic(toRange(where), message, vscode.DiagnosticSeverity.Information);
    diagnostic.source = DIAGNOSTIC_SOURCE;
    diagnostic.code = state.state === 'missing' ? 'output-missing' : 'output-out-of-date';
    return diagnostic;
  }
}
