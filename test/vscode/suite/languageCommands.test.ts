// The editor commands that need no renderer: New Scene, Insert Figure into Markdown, Import Scene from
// PNG, Show Image Provenance; and the Markdown hover and scene links on image links.
/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { buildMetadataEntries } from '../../../src/engine/output/metadataEntries';
import { insertPngText } from '../../../src/engine/output/pngText';
import { parseScene } from '../../../src/engine/scene/parseScene';
import { closeAllEditors, waitFor, workspaceFile } from './helpers';
import { extensionApi, projectFile, writeWorkspaceFile } from './languageSupport';

suite('imgprompt commands', () => {
  suiteSetup(extensionApi);
  teardown(closeAllEditors);

  test('New Scene writes a scene that checks clean and opens it with the prompt selected', async () => {
    const folder = workspaceFile('figures');
    await vscode.workspace.fs.createDirectory(folder);
    const created = await vscode.commands.executeCommand<vscode.Uri>('imgprompt.newScene', { folder, name: 'overview', prompt: 'a red circle' });
    assert.equal(String(created), String(vscode.Uri.joinPath(folder, 'overview.imgprompt')));
    const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(created));
    const parsed = parseScene(text);
    assert.deepEqual(parsed.diagnostics, []);
    assert.equal(parsed.scene.prompt, 'a red circle');
    assert.equal(parsed.scene.output, 'overview.png');
    const editor = vscode.window.activeTextEditor;
    assert.equal(String(editor?.document.uri), String(created));
    assert.equal(editor?.document.getText(editor.selection), 'a red circle');
  });

  test('New Scene refuses to overwrite', async () => {
    const folder = workspaceFile();
    await writeWorkspaceFile('taken.imgprompt', 'prompt: mine\n');
    const result = await vscode.commands.executeCommand('imgprompt.newScene', { folder, name: 'taken' });
    assert.equal(result, undefined);
    assert.equal(new TextDecoder().decode(await vscode.workspace.fs.readFile(workspaceFile('taken.imgprompt'))), 'prompt: mine\n');
  });

  test('Insert Figure writes the scene beside the Markdown file and the image link at the cursor', async () => {
    const doc = await writeWorkspaceFile('guide.md', '# Guide\n\nBefore.\n');
    const editor = await vscode.window.showTextDocument(doc);
    editor.selection = new vscode.Selection(2, 7, 2, 7);
    const scene = await vscode.commands.executeCommand<vscode.Uri>('imgprompt.insertFigure', { name: 'blue-square', prompt: 'a blue square' });
    assert.equal(String(scene), String(workspaceFile('blue-square.imgprompt')));
    // The alt text is the AI disclosure of imgprompt.altTextTemplate: what it shows, model, date.
    assert.match(editor.document.lineAt(2).text, /^Before\.!\[a blue square \(AI-generated image, tiny-shapes, \d{4}-\d{2}-\d{2}\)\]\(blue-square\.png\)$/);
    assert.equal(parseScene(new TextDecoder().decode(await vscode.workspace.fs.readFile(scene))).scene.prompt, 'a blue square');
  });

  test('Import Scene from PNG writes NAME.imgprompt from AUTOMATIC1111 metadata', async () => {
    const png = await writeWorkspaceFile('imported/lighthouse.png', await vscode.workspace.fs.readFile(projectFile('test', 'fixtures', 'png', 'a1111.png')));
    const scene = await vscode.commands.executeCommand<vscode.Uri>('imgprompt.importScene', png);
    assert.equal(String(scene), String(workspaceFile('imported', 'lighthouse.imgprompt')));
    const parsed = parseScene(new TextDecoder().decode(await vscode.workspace.fs.readFile(scene)));
    assert.match(parsed.scene.prompt ?? '', /^a lighthouse on a cliff/);
    assert.equal(parsed.scene.seed, 3141592653n);
  });

  test('Show Image Provenance opens the provenance panel for any PNG; its text form reads the metadata', async () => {
    const png = await writeWorkspaceFile('provenance.png', await vscode.workspace.fs.readFile(projectFile('test', 'fixtures', 'png', 'a1111.png')));
    const shown = await vscode.commands.executeCommand<vscode.Uri>('imgprompt.showProvenance', png);
    assert.equal(String(shown), String(png));
    await waitFor('the provenance panel to open', () =>
      vscode.window.tabGroups.all.flatMap((g) => g.tabs).some((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.includes('imgprompt')),
    );
    const document = await vscode.workspace.openTextDocument(vscode.Uri.from({ scheme: 'imgprompt-provenance', path: `${png.path}.provenance.md`, query: png.toString() }));
    assert.equal(document.languageId, 'markdown');
    assert.match(document.getText(), /## AUTOMATIC1111 \(parameters\)[\s\S]*a lighthouse on a cliff/);
  });

  test('Markdown: hovering an image made by imgprompt shows its prompt and links to its scene', async () => {
    const scene = await writeWorkspaceFile('docs/circle.imgprompt', 'prompt: a red circle\nseed: 7\n');
    const plain = await vscode.workspace.fs.readFile(projectFile('test', 'fixtures', 'png', 'no-metadata.png'));
    const recipe = { prompt: 'a red circle', seed: 7, steps: 12, sampler: 'euler_a', model: { ref: 'tiny-shapes' }, scene: scene.fsPath };
    await writeWorkspaceFile('docs/circle.png', insertPngText(plain, buildMetadataEntries(recipe)));
    const doc = await writeWorkspaceFile('docs/page.md', 'Text.\n\n![The circle](circle.png)\n');
    await vscode.window.showTextDocument(doc);
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc, new vscode.Position(2, 5));
    const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
    assert.match(text, /> a red circle/);
    assert.match(text, /seed 7 · model tiny-shapes · euler\\_a, 12 steps/);
    assert.match(text, /\[Open scene\]\(command:vscode\.open\?/);
    const links = await vscode.commands.executeCommand<vscode.DocumentLink[]>('vscode.executeLinkProvider', doc);
    const sceneLink = links.find((l) => l.target?.fsPath === scene.fsPath);
    assert.ok(sceneLink, `no link to the scene among ${links.map((l) => String(l.target)).join(', ')}`);
    assert.deepEqual([sceneLink.range.start.line, sceneLink.range.start.character, sceneLink.range.end.character], [2, 2, 12]);
  });
});
