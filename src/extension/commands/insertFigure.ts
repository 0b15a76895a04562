// Insert Figure into Markdown: in a Markdown editor, asks what the figure shows, writes NAME.imgprompt
// beside the document (or in imgprompt.figureFolder) and inserts ![alt](NAME.png) at the cursor, the alt
// text (imgprompt.altTextTemplate) saying it is AI-generated, with an optional caption line.
// Arguments, for tests: { name?: string, prompt?: string } to skip the questions.
import { dirname, join, posix, relative, sep } from 'node:path';
import * as vscode from 'vscode';
import { formatDisclosure, imageLink, isoDate, SCENE_DEFAULTS, sceneOutputPath } from '../../engine/editor';
import type { Config } from '../config/config';
import { checkSceneName, randomSeed, sceneBaseName, sceneTemplate, slugify } from '../language/sceneTemplate';
import { UserError } from '../util/userError';
import type { CommandRunner } from './commandRunner';
import { COMMANDS } from './commandIds';
import { writeNewFile } from './commandTargets';

export interface InsertFigureRequest {
  name?: string;
  prompt?: string;
}

export async function insertFigure(config: Config, arg: unknown): Promise<vscode.Uri | undefined> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== 'markdown') throw new UserError('Insert Figure works in a Markdown editor: open a .md file and place the cursor where the figure goes.', 'info');
  const document = editor.document;
  if (document.uri.scheme !== 'file') throw new UserError('Save the Markdown document first: its figure is created next to it.', 'info');
  const request = (typeof arg === 'object' && arg !== null ? arg : {}) as InsertFigureRequest;
  const prompt =
    request.prompt ??
    (await vscode.window.showInputBox({ title: 'Insert Figure (1/2)', prompt: 'What should the figure show? (the prompt; also the alt text)', placeHolder: 'a red circle above a blue square, flat vector illustration' }));
  if (prompt === undefined || prompt.trim() === '') return undefined;
  const name =
    request.name ??
    (await vscode.window.showInputBox({ title: 'Insert Figure (2/2)', prompt: 'Scene name: writes NAME.imgprompt and NAME.png', value: slugify(prompt), validateInput: (v) => checkSceneName(sceneBaseName(v)) }));
  if (name === undefined) return undefined;
  const base = sceneBaseName(name);
  const problem = checkSceneName(base);
  if (problem) throw new UserError(`${problem}: ${JSON.stringify(name)}`, 'warning');

  const docDir = dirname(document.uri.fsPath);
  const sceneDir = join(docDir, config.get(document.uri).figureFolder);
  const scene = vscode.Uri.file(join(sceneDir, `${base}.imgprompt`));
  await vscode.workspace.fs.createDirectory(vscode.Uri.file(sceneDir));
  const purpose = `Illustrates ${posix.basename(document.uri.path)}`;
  await writeNewFile(scene, sceneTemplate({ name: base, prompt, seed: randomSeed(), purpose }));
  // Where the scene will write its figure: the engine's rule with this folder's output pattern.
  const folder = vscode.workspace.getWorkspaceFolder(scene);
  const output = sceneOutputPath(scene.fsPath, { pattern: config.get(scene).outputPattern, workspaceFolder: folder?.uri.scheme === 'file' ? folder.uri.fsPath : undefined });
  const png = relative(docDir, output).split(sep).join('/');
  // The alt text (and the optional caption) disclose that the image is AI-generated, in words a reader
  // sees even when the PNG's metadata is stripped on the way to publication.
  const settings = config.get(document.uri);
  const facts = { prompt: prompt.trim(), model: SCENE_DEFAULTS.model, date: isoDate(), purpose };
  const caption = settings.figureCaption ? `\n\n${formatDisclosure(settings.figureCaption, facts)}` : '';
  await editor.edit((edit) => edit.replace(editor.selection, `${imageLink(formatDisclosure(settings.altTextTemplate, facts), png)}${caption}`));
  return scene;
}

export function registerInsertFigure(runner: CommandRunner, config: Config): vscode.Disposable {
  return runner.register(COMMANDS.insertFigure, 'Insert Figure', (arg) => insertFigure(config, arg));
}
