// Problems in how a Markdown document uses generated figures, as diagnostics while it is edited: with
// imgprompt.requireDisclosure, an image of a generated figure whose alt text does not say
// "AI-generated"; in a document matching imgprompt.publishedFiles, an image of an `audience: team`
// figure. The same rules as `imgprompt verify --require-disclosure --published GLOB`.
import * as vscode from 'vscode';
import { checkDocumentText, readImageMetadataFile, type FigureReferenceProblem, type ImageMetadataReport } from '../../engine/editor';
import { checkWorkspaceFigures, describeFigureProblem, figureCheckEnabled } from './workspaceFigureCheck';
import type { Config } from '../config/config';

const DEBOUNCE_MS = 400;

export class FigureReferenceDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('imgprompt-figures');
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly listeners: vscode.Disposable[] = [];

  private constructor(private readonly config: Config) {
    this.listeners.push(
      vscode.workspace.onDidOpenTextDocument((d) => this.schedule(d)),
      vscode.workspace.onDidChangeTextDocument((e) => this.schedule(e.document)),
      vscode.workspace.onDidSaveTextDocument((d) => this.schedule(d)),
      vscode.workspace.onDidCloseTextDocument((d) => this.collection.delete(d.uri)),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('imgprompt')) for (const d of vscode.workspace.textDocuments) this.schedule(d);
      }),
    );
    for (const d of vscode.workspace.textDocuments) this.schedule(d);
  }

  static register(config: Config): FigureReferenceDiagnostics {
    return new FigureReferenceDiagnostics(config);
  }

  private schedule(document: vscode.TextDocument): void {
    if (document.languageId !== 'markdown' || document.uri.scheme !== 'file') return;
    const key = document.uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        void this.update(document);
      }, DEBOUNCE_MS),
    );
  }

  private async update(document: vscode.TextDocument): Promise<void> {
    const settings = this.config.get(document.uri);
    const folder = vscode.workspace.getWorkspaceFolder(document.uri);
    const published = folder !== undefined && settings.publishedFiles.some((glob) => vscode.languages.match({ pattern: new vscode.RelativePattern(folder, glob) }, document) > 0);
    if (!settings.requireDisclosure && !published) {
      this.collection.delete(document.uri);
      return;
    }
    const version = document.version;
    const readMetadata = async (png: string): Promise<ImageMetadataReport | undefined> => readImageMetadataFile(png).catch(() => undefined);
    const problems = await checkDocumentText(document.uri.fsPath, document.getText(), { requireDisclosure: settings.requireDisclosure, published, readMetadata });
    if (document.isClosed || document.version !== version) return;
    this.collection.set(
      document.uri,
      problems.map((p) => toDiagnostic(p, document)),
    );
  }

  /**
   * Verify / Verify Workspace: checks every document of the workspace folders holding `scenes` (open or
   * not), puts the problems in the Problems panel and returns them as summary lines.
   */
  async verify(scenes: readonly vscode.Uri[]): Promise<string[]> {
    const folders = new Map<string, vscode.WorkspaceFolder>();
    for (const scene of scenes) {
      const folder = vscode.workspace.getWorkspaceFolder(scene);
      if (folder?.uri.scheme === 'file') folders.set(folder.uri.toString(), folder);
    }
    const lines: string[] = [];
    for (const folder of folders.values()) {
      const settings = this.config.get(folder.uri);
      if (!figureCheckEnabled(settings)) continue;
      const problems = await checkWorkspaceFigures(folder.uri.fsPath, settings, async (png) => readImageMetadataFile(png).catch(() => undefined));
      const byDocument = new Map<string, FigureReferenceProblem[]>();
      for (const p of problems) byDocument.set(p.document, [...(byDocument.get(p.document) ?? []), p]);
      // Documents of this folder that no longer have problems lose their old ones.
      this.collection.forEach((uri) => {
        if (vscode.workspace.getWorkspaceFolder(uri)?.uri.toString() === folder.uri.toString() && !byDocument.has(uri.fsPath)) this.collection.delete(uri);
      });
      for (const [document, found] of byDocument) {
        const open = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === document);
        this.collection.set(vscode.Uri.file(document), found.map((p) => toDiagnostic(p, open)));
      }
      lines.push(...problems.map((p) => describeFigureProblem(p, (path) => vscode.workspace.asRelativePath(path))));
    }
    return lines;
  }

  /** Called when the extension deactivates. */
  dispose(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    for (const l of this.listeners) l.dispose();
    this.collection.dispose();
  }
}

/** A problem as a diagnostic: exact range in an open document, else from its line and column (the reference's first line). */
function toDiagnostic(p: FigureReferenceProblem, document: vscode.TextDocument | undefined): vscode.Diagnostic {
  const start = document ? document.positionAt(p.offset) : new vscode.Position(p.line - 1, p.column - 1);
  const range = new vscode.Range(start, document ? document.positionAt(p.offset + p.length) : start.translate(0, p.length));
  const d = new vscode.Diagnostic(range, p.message, p.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
  d.source = 'imgprompt';
  d.code = p.code;
  return d;
}
