// Markdown completion of figures: typing `![` offers the workspace's scenes; choosing one inserts
// `![alt](path/to/figure.png)` whose alt text is the AI disclosure of imgprompt.altTextTemplate (what it
// shows, the model, the date), plus the caption of imgprompt.figureCaption when one is set.
import { dirname, relative, resolve, sep } from 'node:path';
import * as vscode from 'vscode';
import { formatDisclosure, imageLink, isoDate, parseScene, SCENE_DEFAULTS, sceneOutputPath } from '../../engine/editor';
import type { Config } from '../config/config';

const MARKDOWN: vscode.DocumentSelector = { language: 'markdown', scheme: 'file' };
/** The most scenes offered (a docs repository's figures, not a whole disk). */
const MAX_SCENES = 200;

export class FigureCompletionProvider implements vscode.CompletionItemProvider {
  constructor(private readonly config: Config) {}

  static register(config: Config): vscode.Disposable {
    return vscode.languages.registerCompletionItemProvider(MARKDOWN, new FigureCompletionProvider(config), '[');
  }

  /** Called by VS Code when the user types `[` or asks for completions in a Markdown document. */
  async provideCompletionItems(document: vscode.TextDocument, position: vscode.Position, token: vscode.CancellationToken): Promise<vscode.CompletionItem[]> {
    const before = document.lineAt(position.line).text.slice(0, position.character);
    const typed = /!\[[^\]]*$/.exec(before);
    if (!typed) return [];
    const range = new vscode.Range(position.line, typed.index, position.line, position.character);
    const settings = this.config.get(document.uri);
    const scenes = await vscode.workspace.findFiles('**/*.imgprompt', '**/node_modules/**', MAX_SCENES, token);
    const items: vscode.CompletionItem[] = [];
    for (const scene of scenes) {
      if (token.isCancellationRequested) break;
      let text: string;
      try {
        text = new TextDecoder().decode(await vscode.workspace.fs.readFile(scene));
      } catch {
        continue;
      }
      const { scene: parsed } = parseScene(text);
      if (!parsed.prompt) continue;
      const folder = vscode.workspace.getWorkspaceFolder(scene);
      const output = sceneOutputPath(scene.fsPath, {
        written: parsed.output ? resolve(dirname(scene.fsPath), parsed.output) : undefined,
        pattern: settings.outputPattern,
        workspaceFolder: folder?.uri.fsPath,
      });
      const target = relative(dirname(document.uri.fsPath), output).split(sep).join('/');
      const facts = { prompt: parsed.prompt.replace(/\s+/g, ' ').trim(), model: parsed.model ?? SCENE_DEFAULTS.model, date: isoDate(), purpose: parsed.purpose };
      const caption = settings.figureCaption ? `\n\n${formatDisclosure(settings.figureCaption, facts)}` : '';
      const item = new vscode.CompletionItem(`![${target}]`, vscode.CompletionItemKind.File);
      item.insertText = `${imageLink(formatDisclosure(settings.altTextTemplate, facts), target)}${caption}`;
      item.range = range;
      item.filterText = `![${facts.prompt} ${target}`;
      item.detail = 'imgprompt figure, alt text with the AI disclosure';
      item.documentation = new vscode.MarkdownString().appendText(facts.prompt);
      items.push(item);
    }
    return items;
  }
}
