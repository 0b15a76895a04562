// In Markdown files: hovering an image link whose PNG carries generation metadata (ours, AUTOMATIC1111,
// ComfyUI, InvokeAI) shows its prompt, seed, model and settings with links to the scene and the full
// provenance; and the alt text of such a link is a document link to its .imgprompt scene (the path
// part keeps Markdown's own link to the image).
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { COMMANDS } from '../commands/commandIds';
import { escapeMarkdown, formatImageSummary, recordedScene } from '../provenance/formatProvenance';
import { ImageMetadataCache } from './imageMetadataCache';
import { findMarkdownImages, hasDisclosure, localImagePath, sceneCandidates, type MarkdownImage } from '../../engine/editor';

const MARKDOWN: vscode.DocumentSelector = { language: 'markdown', scheme: 'file' };
/** Link detection reads at most this many images per document. */
const MAX_LINKED_IMAGES = 100;

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function offsetRange(document: vscode.TextDocument, start: number, end: number): vscode.Range {
  return new vscode.Range(document.positionAt(start), document.positionAt(end));
}

export class MarkdownImageFeatures implements vscode.HoverProvider, vscode.DocumentLinkProvider {
  private readonly metadata = new ImageMetadataCache();

  static register(): vscode.Disposable {
    const features = new MarkdownImageFeatures();
    return vscode.Disposable.from(vscode.languages.registerHoverProvider(MARKDOWN, features), vscode.languages.registerDocumentLinkProvider(MARKDOWN, features));
  }

  /** The scene that made `png`: the one its recipe names, else NAME.imgprompt beside it. */
  async sceneOf(png: string): Promise<string | undefined> {
    const report = await this.metadata.get(png);
    for (const candidate of sceneCandidates(png, report ? recordedScene(report) : undefined)) {
      if (await isFile(candidate)) return candidate;
    }
    return undefined;
  }

  /** Called by VS Code when the pointer rests on a Markdown document. */
  async provideHover(document: vscode.TextDocument, position: vscode.Position): Promise<vscode.Hover | undefined> {
    const offset = document.offsetAt(position);
    const line = document.lineAt(position.line);
    const lineStart = document.offsetAt(line.range.start);
    const image = findMarkdownImages(line.text).find((i) => offset >= lineStart + i.start && offset <= lineStart + i.end);
    if (!image) return undefined;
    const png = localImagePath(image.rawTarget, document.uri.fsPath);
    if (!png || !/\.png$/i.test(png)) return undefined;
    const report = await this.metadata.get(png);
    if (!report) return undefined;
    const summary = formatImageSummary(report, basename(png));
    if (!summary) return undefined;
    // The alt text is what readers see of the disclosure once the metadata is gone.
    const generated = report.recipe !== undefined || report.provenance.aiGenerated;
    const altNote = generated ? (hasDisclosure(image.alt) ? `Alt text discloses it: “${escapeMarkdown(image.alt)}”` : '$(warning) The alt text does not say this image is AI-generated.') : undefined;
    const links: string[] = [];
    const scene = await this.sceneOf(png);
    if (scene) links.push(`[Open scene](${commandLink('vscode.open', vscode.Uri.file(scene))})`);
    links.push(`[Show provenance](${commandLink(COMMANDS.showProvenance, vscode.Uri.file(png))})`);
    const content = new vscode.MarkdownString(`${summary}\n\n${altNote ? `${altNote}\n\n` : ''}${links.join(' · ')}`, true);
    content.isTrusted = { enabledCommands: ['vscode.open', COMMANDS.showProvenance] };
    return new vscode.Hover(content, offsetRange(document, lineStart + image.start, lineStart + image.end));
  }

  /** Called by VS Code to find links in a Markdown document. */
  async provideDocumentLinks(document: vscode.TextDocument, token: vscode.CancellationToken): Promise<vscode.DocumentLink[]> {
    const images = findMarkdownImages(document.getText()).slice(0, MAX_LINKED_IMAGES);
    const links: vscode.DocumentLink[] = [];
    for (const image of images) {
      if (token.isCancellationRequested) break;
      const link = await this.sceneLink(document, image);
      if (link) links.push(link);
    }
    return links;
  }

  private async sceneLink(document: vscode.TextDocument, image: MarkdownImage): Promise<vscode.DocumentLink | undefined> {
    const png = localImagePath(image.rawTarget, document.uri.fsPath);
    if (!png || !/\.png$/i.test(png)) return undefined;
    const scene = await this.sceneOf(png);
    if (!scene) return undefined;
    // An empty alt text still gets a clickable `![]`.
    const range = image.altEnd > image.altStart ? offsetRange(document, image.altStart, image.altEnd) : offsetRange(document, image.start, image.altEnd + 1);
    const link = new vscode.DocumentLink(range, vscode.Uri.file(scene));
    link.tooltip = `Open the imgprompt scene ${basename(scene)}`;
    return link;
  }
}

function commandLink(command: string, ...args: unknown[]): string {
  return `command:${command}?${encodeURIComponent(JSON.stringify(args))}`;
}
