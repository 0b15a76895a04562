// Show Image Provenance, for now as a read-only Markdown document beside the editor (the preview panel
// will show it richer later): a virtual document per PNG, generated on open from its metadata.
import * as vscode from 'vscode';
import { readImageMetadataFile } from '../../engine/editor';
import type { CommandRunner } from '../commands/commandRunner';
import { COMMANDS } from '../commands/commandIds';
import { pngTarget } from '../commands/commandTargets';
import { UserError } from '../util/userError';
import { formatProvenanceDocument } from './formatProvenance';
import { readImageReport } from '../preview/imageReport';

export const PROVENANCE_SCHEME = 'imgprompt-provenance';

/** The virtual document's Uri for `png`: its path ends in .md so VS Code shows it as Markdown. */
export function provenanceUri(png: vscode.Uri): vscode.Uri {
  return vscode.Uri.from({ scheme: PROVENANCE_SCHEME, path: `${png.path}.provenance.md`, query: png.toString() });
}

export class ProvenanceDocuments implements vscode.TextDocumentContentProvider {
  /**
   * `openPanel`, when given, shows provenance in the preview panel (images, diffs, Import as Scene);
   * the read-only Markdown document remains for hosts without the panel.
   */
  static register(runner: CommandRunner, openPanel?: (png: vscode.Uri) => Promise<unknown>): vscode.Disposable {
    const provider = new ProvenanceDocuments();
    return vscode.Disposable.from(
      vscode.workspace.registerTextDocumentContentProvider(PROVENANCE_SCHEME, provider),
      runner.register(COMMANDS.showProvenance, 'Show Image Provenance', (arg) => (openPanel ? provider.showInPanel(arg, openPanel) : provider.show(arg))),
    );
  }

  /** Shows `arg`'s provenance through `openPanel`; returns the PNG. */
  async showInPanel(arg: unknown, openPanel: (png: vscode.Uri) => Promise<unknown>): Promise<vscode.Uri | undefined> {
    const png = await pngTarget(arg, 'Show Image Provenance', ['png', 'jpg', 'jpeg', 'webp']);
    if (!png) return undefined;
    if (png.scheme !== 'file') throw new UserError(`Provenance is read from PNGs on disk; ${png.toString()} is not a local file.`, 'warning');
    await readImageReport(png.fsPath); // a JPEG or WebP opens too: the panel reads its watermark
    await openPanel(png);
    return png;
  }

  /** Called by VS Code when the provenance document of a PNG is opened. */
  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const png = vscode.Uri.parse(uri.query, true);
    try {
      return formatProvenanceDocument(await readImageMetadataFile(png.fsPath));
    } catch (error) {
      return `# Provenance of ${png.fsPath}\n\nThe image cannot be read: ${error instanceof Error ? error.message : String(error)}\n`;
    }
  }

  async show(arg: unknown): Promise<vscode.Uri | undefined> {
    const png = await pngTarget(arg, 'Show Image Provenance');
    if (!png) return undefined;
    if (png.scheme !== 'file') throw new UserError(`Provenance is read from PNGs on disk; ${png.toString()} is not a local file.`, 'warning');
    // Read once here so a broken or foreign file is an error message, not an empty document.
    await readImageMetadataFile(png.fsPath);
    const uri = provenanceUri(png);
    const document = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: false });
    return uri;
  }
}
