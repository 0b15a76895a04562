// Verify's document check in the editor: with imgprompt.requireDisclosure and imgprompt.publishedFiles,
// every Markdown document of the workspace (open or not) is checked as `imgprompt verify
// --require-disclosure --published GLOB` checks it, and the problems land in the Problems panel.
/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { EXTENSION_ID, closeAllEditors } from './helpers';
import { projectFile, writeWorkspaceFile } from './languageSupport';

interface Api {
  figures: { verify(scenes: readonly vscode.Uri[]): Promise<string[]> };
}

suite('imgprompt Verify checks figure disclosure', () => {
  teardown(async () => {
    const config = vscode.workspace.getConfiguration('imgprompt');
    await config.update('requireDisclosure', undefined, vscode.ConfigurationTarget.Workspace);
    await config.update('publishedFiles', undefined, vscode.ConfigurationTarget.Workspace);
    await closeAllEditors();
  });

  test('Verify figure check: an unopened published document without the disclosure gets its problems', async () => {
    const extension = vscode.extensions.getExtension<Api>(EXTENSION_ID);
    assert.ok(extension);
    const { figures } = await extension.activate();
    // samples/red-circle.png is an imgprompt render: AI-generated, audience team (the default).
    await writeWorkspaceFile('verify-figures/red-circle.png', await vscode.workspace.fs.readFile(projectFile('samples', 'red-circle.png')));
    const doc = await writeWorkspaceFile('verify-docs/page.md', '# Page\n\n![a red circle](../verify-figures/red-circle.png)\n');
    const scene = await writeWorkspaceFile('verify-figures/red-circle.imgprompt', 'model: tiny-shapes\nprompt: a red circle\n');

    assert.deepEqual(await figures.verify([scene]), [], 'the check ran with both settings off');
    const config = vscode.workspace.getConfiguration('imgprompt');
    await config.update('requireDisclosure', true, vscode.ConfigurationTarget.Workspace);
    await config.update('publishedFiles', ['verify-docs/**'], vscode.ConfigurationTarget.Workspace);
    const lines = (await figures.verify([scene])).filter((l) => l.startsWith('verify-docs/'));
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0], /^verify-docs\/page\.md:3:1: error: .*does not say so/);
    assert.match(lines[1], /^verify-docs\/page\.md:3:1: warning: /);
    const problems = vscode.languages.getDiagnostics(doc).filter((d) => d.source === 'imgprompt');
    assert.deepEqual(problems.map((d) => [d.code, d.severity, d.range.start.line, d.range.start.character]), [
      ['figure-without-disclosure', vscode.DiagnosticSeverity.Error, 2, 0],
      ['team-figure-published', vscode.DiagnosticSeverity.Warning, 2, 0],
    ]);

    // Fixed on disk: the next Verify clears the document's problems.
    await vscode.workspace.fs.writeFile(doc, new TextEncoder().encode('# Page\n\n![a red circle (AI-generated)](../verify-figures/red-circle.png)\n'));
    await config.update('publishedFiles', undefined, vscode.ConfigurationTarget.Workspace);
    assert.deepEqual((await figures.verify([scene])).filter((l) => l.startsWith('verify-docs/')), []);
    assert.deepEqual(vscode.languages.getDiagnostics(doc).filter((d) => d.source === 'imgprompt'), []);
  });
});
