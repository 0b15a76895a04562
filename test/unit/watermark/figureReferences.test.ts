// The checks of how documents use generated figures, on the Markdown fixture in test/fixtures/disclosure:
// the alt-text disclosure rule (Markdown images and HTML <img>), the audience warning for published
// files, and the same through `imgprompt check`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkFigureReferences, findDocuments, findHtmlImages, formatDisclosure, hasDisclosure, DEFAULT_DISCLOSURE_TEMPLATE } from '../../../src/engine/index';
import { main } from '../../../src/cli/main';
import type { CliIO } from '../../../src/cli/command';
import { disclosureProject } from './disclosureProject';

const project = (): Promise<string> => disclosureProject('imgprompt-disclosure-');

test('alt text: the template fills in; the marker is found however the words are joined', () => {
  const alt = formatDisclosure(DEFAULT_DISCLOSURE_TEMPLATE, { prompt: 'a red circle', model: 'tiny-shapes', date: '2026-12-06' });
  assert.equal(alt, 'a red circle (AI-generated image, tiny-shapes, 2026-12-06)');
  assert.ok(hasDisclosure(alt));
  assert.ok(hasDisclosure('an ai generated chart'));
  assert.ok(hasDisclosure('AIgenerated'));
  assert.ok(!hasDisclosure('a red circle'));
  assert.ok(hasDisclosure('Erstellt mit KI', 'mit KI'));
  const [img] = findHtmlImages('<p><img alt=\'x y\' src=a.png></p>');
  assert.deepEqual([img.alt, img.rawTarget], ['x y', 'a.png']);
});

test('a reference to a generated figure without the disclosure is named; disclosed, HTML-disclosed, photos and code blocks are not', async () => {
  const dir = await project();
  try {
    const problems = await checkFigureReferences({ projectRoot: dir, documents: findDocuments(dir), requireDisclosure: true });
    assert.deepEqual(
      problems.map((p) => [p.document.slice(dir.length + 1), p.line, p.code, p.severity]),
      [
        ['docs/guide.md', 5, 'figure-without-disclosure', 'error'],
        ['notes/internal.md', 3, 'figure-without-disclosure', 'error'],
      ],
    );
    assert.match(problems[0].message, /\.\.\/figures\/team\.png is an AI-generated figure but its alt text "a red circle above a blue square" does not say so/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a team figure referenced from a published file is a warning; from unpublished notes it is not', async () => {
  const dir = await project();
  try {
    const problems = await checkFigureReferences({ projectRoot: dir, documents: findDocuments(dir), isPublished: (rel) => rel.startsWith('docs/') });
    assert.deepEqual(
      problems.map((p) => [p.document.slice(dir.length + 1), p.line, p.code, p.severity]),
      [
        ['docs/guide.md', 5, 'team-figure-published', 'warning'],
        ['docs/guide.md', 11, 'team-figure-published', 'warning'],
      ],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('imgprompt check --require-disclosure --published docs/** prints file:line:col and exits 1 on the missing disclosure', async () => {
  const dir = await project();
  writeFileSync(join(dir, 'fig.imgprompt'), 'prompt: a red circle\n');
  try {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIO = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), isTTY: false, cwd: dir, env: {} };
    const code = await main(['check', '--require-disclosure', '--published', 'docs/**', '--require-purpose', 'fig.imgprompt'], io, new AbortController().signal);
    const text = out.join('');
    assert.equal(code, 1, text + err.join(''));
    assert.match(text, /^docs\/guide\.md:5:1: error: \.\.\/figures\/team\.png is an AI-generated figure/m);
    assert.match(text, /^docs\/guide\.md:5:1: warning: \.\.\/figures\/team\.png is a team figure \(audience: team\) referenced from a published file/m);
    assert.match(text, /^fig\.imgprompt:1:1: warning: the scene has no purpose/m);
    // Without the options, the same project checks clean.
    out.length = 0;
    assert.equal(await main(['check', 'fig.imgprompt'], io, new AbortController().signal), 0, out.join(''));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
