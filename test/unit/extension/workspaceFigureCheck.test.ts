// Verify / Verify Workspace's document check in the editor: the same problems as
// `imgprompt verify --require-disclosure --published GLOB`, from the settings, on the disclosure fixture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { checkWorkspaceFigures, describeFigureProblem, figureCheckEnabled } from '../../../src/extension/markdown/workspaceFigureCheck';
import { reportFigureReferences } from '../../../src/cli/disclosureOptions';
import type { CliIO } from '../../../src/cli/command';
import { disclosureProject } from '../watermark/disclosureProject';

const project = (): Promise<string> => disclosureProject('imgprompt-verify-figures-');

test('no setting, no check: nothing is read', async () => {
  assert.equal(figureCheckEnabled({ requireDisclosure: false, publishedFiles: [] }), false);
  assert.deepEqual(await checkWorkspaceFigures('/nonexistent-folder', { requireDisclosure: false, publishedFiles: [] }), []);
});

test('requireDisclosure and publishedFiles give the problems the CLI reports for the same flags', async () => {
  const dir = await project();
  try {
    const settings = { requireDisclosure: true, publishedFiles: ['./docs/**'] };
    const problems = await checkWorkspaceFigures(dir, settings);
    const rel = (p: string) => p.slice(dir.length + 1);
    assert.deepEqual(
      problems.map((p) => [rel(p.document), p.line, p.code, p.severity]),
      [
        ['docs/guide.md', 5, 'figure-without-disclosure', 'error'],
        ['docs/guide.md', 5, 'team-figure-published', 'warning'],
        ['docs/guide.md', 11, 'team-figure-published', 'warning'],
        ['notes/internal.md', 3, 'figure-without-disclosure', 'error'],
      ],
    );
    const lines: string[] = [];
    const io = { cwd: dir, env: {}, stdout: (s: string) => lines.push(s.trimEnd()), stderr: () => undefined } as unknown as CliIO;
    await reportFigureReferences({ requireDisclosure: true, published: ['./docs/**'], requirePurpose: false }, dir, io);
    assert.deepEqual(problems.map((p) => describeFigureProblem(p, rel)), lines, 'the editor and the CLI disagree');
    const onlyPublished = await checkWorkspaceFigures(dir, { requireDisclosure: false, publishedFiles: ['docs/**'] });
    assert.deepEqual(onlyPublished.map((p) => [p.line, p.code]), [[5, 'team-figure-published'], [11, 'team-figure-published']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
