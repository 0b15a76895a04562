// Image links in Markdown: what counts as one (not in code), where its parts are, which local file it
// names, and where the scene of a PNG may be.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { findMarkdownImages, imageLink, localImagePath, sceneCandidates } from '../../../src/engine/disclosure/markdownImages';

describe('findMarkdownImages', () => {
  test('finds images with their alt and target offsets', () => {
    const text = 'Intro ![A red circle](figs/circle.png "Figure 1") and ![](<my figure.png>).';
    const images = findMarkdownImages(text);
    assert.equal(images.length, 2);
    const [a, b] = images;
    assert.equal(a.alt, 'A red circle');
    assert.equal(text.slice(a.altStart, a.altEnd), 'A red circle');
    assert.equal(a.rawTarget, 'figs/circle.png');
    assert.equal(text.slice(a.targetStart, a.targetEnd), 'figs/circle.png');
    assert.equal(text.slice(a.start, a.end), '![A red circle](figs/circle.png "Figure 1")');
    assert.equal(b.alt, '');
    assert.equal(b.rawTarget, 'my figure.png');
    assert.equal(text.slice(b.targetStart, b.targetEnd), 'my figure.png');
  });

  test('skips fenced code and inline code, but not text after the fence', () => {
    const text = ['```md', '![in fence](a.png)', '```', 'Use `![code](b.png)` like this: ![real](c.png)', '~~~', '![tilde](d.png)'].join('\n');
    assert.deepEqual(findMarkdownImages(text).map((i) => i.rawTarget), ['c.png']);
  });

  test('ordinary links are not images', () => {
    assert.deepEqual(findMarkdownImages('[link](a.png) and ![img](b.png)').map((i) => i.rawTarget), ['b.png']);
  });
});

describe('localImagePath', () => {
  const doc = resolve('/docs/guide/index.md');
  test('resolves relative targets, decodes escapes, drops query and fragment', () => {
    assert.equal(localImagePath('figs/a.png', doc), resolve('/docs/guide/figs/a.png'));
    assert.equal(localImagePath('../my%20fig.png?raw=1#x', doc), resolve('/docs/my fig.png'));
  });
  test('URLs and empty targets are not local', () => {
    for (const t of ['https://example.com/a.png', 'data:image/png;base64,AAAA', '#anchor', 'vscode-resource:/x.png']) assert.equal(localImagePath(t, doc), undefined, t);
  });
});

describe('sceneCandidates', () => {
  const png = resolve('/docs/figs/chart.png');
  test('recorded scene first (absolute, then by name beside the PNG), then the same base name', () => {
    assert.deepEqual(sceneCandidates(png, '/elsewhere/src/chart-scene.imgprompt'), [resolve('/elsewhere/src/chart-scene.imgprompt'), join(resolve('/docs/figs'), 'chart-scene.imgprompt'), join(resolve('/docs/figs'), 'chart.imgprompt')]);
    assert.deepEqual(sceneCandidates(png), [join(resolve('/docs/figs'), 'chart.imgprompt')]);
  });
  test('a recorded path that is not a scene is ignored', () => {
    assert.deepEqual(sceneCandidates(png, '/x/notes.txt'), [join(resolve('/docs/figs'), 'chart.imgprompt')]);
  });
});

describe('imageLink', () => {
  test('escapes brackets in the alt text and wraps targets with spaces', () => {
    assert.equal(imageLink('a [red]\ncircle', 'fig.png'), '![a \\[red\\] circle](fig.png)');
    assert.equal(imageLink('x', 'my fig.png'), '![x](<my fig.png>)');
    assert.deepEqual(findMarkdownImages(imageLink('a [red] circle', 'my fig.png')).map((i) => i.rawTarget), ['my fig.png']);
  });
});
