// Engine diagnostics → VS Code diagnostics: exact ranges, severity, the engine's stable code, and related
// locations where another line explains the problem (the first of two duplicate keys, the model whose
// grid or native size a size warning is about).
import * as vscode from 'vscode';
import type { SceneDiagnostic, Severity, SourceRange, ParsedScene } from '../../engine/editor';

export const DIAGNOSTIC_SOURCE = 'imgprompt';

const SEVERITY: Record<Severity, vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

export function toRange(range: SourceRange): vscode.Range {
  return new vscode.Range(range.start.line, range.start.character, range.end.line, range.end.character);
}

function sameRange(a: SourceRange, b: SourceRange): boolean {
  return a.start.line === b.start.line && a.start.character === b.start.character && a.end.line === b.end.line && a.end.character === b.end.character;
}

const MODEL_SIZE_CODES = new Set(['size-off-grid', 'size-approximate', 'size-above-native']);

function related(d: SceneDiagnostic, parsed: ParsedScene, uri: vscode.Uri): vscode.DiagnosticRelatedInformation[] {
  if (d.code === 'duplicate-key') {
    const key = /duplicate key '([^']+)'/.exec(d.message)?.[1];
    const first = key === undefined ? undefined : parsed.locations.get(key)?.key;
    if (first && !sameRange(first, d.range)) return [new vscode.DiagnosticRelatedInformation(new vscode.Location(uri, toRange(first)), `'${key}' is first set here`)];
  }
  if (MODEL_SIZE_CODES.has(d.code)) {
    const model = parsed.locations.get('model')?.value;
    if (model) return [new vscode.DiagnosticRelatedInformation(new vscode.Location(uri, toRange(model)), 'the model whose grid and native size apply')];
  }
  return [];
}

export function toDiagnostic(d: SceneDiagnostic, parsed: ParsedScene, uri: vscode.Uri): vscode.Diagnostic {
  const diagnostic = new vscode.Diagnostic(toRange(d.range), d.message, SEVERITY[d.severity]);
  diagnostic.source = DIAGNOSTIC_SOURCE;
  diagnostic.code = d.code;
  const info = related(d, parsed, uri);
  if (info.length) diagnostic.relatedInformation = info;
  return diagnostic;
}
