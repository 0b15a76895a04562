// The label setting (imgprompt.label, IMGPROMPT_LABEL): one reader for both hosts, so the same setting
// gives the same recipe in the editor and the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLabelEnv, parseLabelSetting, parseScene } from '../../../src/engine/index';
import { defaultLabelFromEnv, sceneContext } from '../../../src/cli/sceneContext';
import { UsageError } from '../../../src/cli/command';

test('a label setting is text, {text, corner, size, opacity}, or off', () => {
  assert.deepEqual(parseLabelSetting('AI-generated', 'x'), { label: { text: 'AI-generated' }, problems: [] });
  assert.deepEqual(parseLabelSetting({ text: 'Made with AI', corner: 'top-left', size: 20, opacity: 0.5 }, 'x'), { label: { text: 'Made with AI', corner: 'top-left', size: 20, opacity: 0.5 }, problems: [] });
  assert.deepEqual(parseLabelSetting({}, 'x'), { label: {}, problems: [] }, 'an empty object is the default label');
  for (const off of [undefined, null, '', ' off ', 'none', false]) assert.deepEqual(parseLabelSetting(off, 'x'), { problems: [] }, String(off));
});

test('a bad label setting gives no label and says what is wrong', () => {
  const cases: [unknown, RegExp][] = [
    [{ corner: 'middle' }, /x\.corner must be one of bottom-right/],
    [{ size: 3 }, /x\.size must be a whole number from 7 to 512; got 3/],
    [{ size: 12.5 }, /x\.size must be a whole number/],
    [{ opacity: 2 }, /x\.opacity must be a number from 0\.05 to 1/],
    [{ text: 'ok', colour: 'red' }, /unknown key 'colour'/],
    ['x'.repeat(81), /81 characters; at most 80/],
    [42, /must be the label text or an object/],
    [['AI'], /must be the label text or an object/],
  ];
  for (const [raw, message] of cases) {
    const parsed = parseLabelSetting(raw, 'x');
    assert.equal(parsed.label, undefined, JSON.stringify(raw));
    assert.match(parsed.problems.join('\n'), message);
  }
});

test('IMGPROMPT_LABEL: text, or JSON when it starts with {; bad values are usage errors', () => {
  assert.deepEqual(parseLabelEnv(undefined), { problems: [] });
  assert.deepEqual(parseLabelEnv('off'), { problems: [] });
  assert.deepEqual(parseLabelEnv('AI-generated'), { label: { text: 'AI-generated' }, problems: [] });
  assert.deepEqual(parseLabelEnv(' {"corner": "top-right", "size": 16} '), { label: { corner: 'top-right', size: 16 }, problems: [] });
  assert.match(parseLabelEnv('{corner: top-right}').problems[0], /IMGPROMPT_LABEL starts with '\{' but is not valid JSON/);
  assert.deepEqual(defaultLabelFromEnv({}), {});
  assert.deepEqual(defaultLabelFromEnv({ IMGPROMPT_LABEL: 'Draft' }), { defaultLabel: { text: 'Draft' } });
  assert.throws(() => defaultLabelFromEnv({ IMGPROMPT_LABEL: '{"opacity": 0}' }), (e: unknown) => e instanceof UsageError && /IMGPROMPT_LABEL\.opacity/.test(e.message));
});

test('the CLI scene context carries IMGPROMPT_LABEL to every command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-label-'));
  try {
    const file = join(dir, 'a.imgprompt');
    writeFileSync(file, 'model: tiny-shapes\nprompt: x\n');
    assert.deepEqual(sceneContext(file, [], dir, { IMGPROMPT_LABEL: '{"text": "AI", "corner": "top-left"}' }).defaultLabel, { text: 'AI', corner: 'top-left' });
    assert.equal(sceneContext(file, [], dir, {}).defaultLabel, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('label: off, label: "" and label: false parse as an explicit "no label"', () => {
  for (const text of ['label: off', "label: ''", 'label: false', 'label: OFF']) {
    const parsed = parseScene(`model: m\nprompt: p\n${text}\n`);
    assert.equal(parsed.diagnostics.filter((d) => d.severity === 'error').length, 0, text);
    assert.equal(parsed.scene.label, false, text);
  }
  assert.deepEqual(parseScene('model: m\nprompt: p\nlabel: Draft\n').scene.label, { text: 'Draft' });
});
