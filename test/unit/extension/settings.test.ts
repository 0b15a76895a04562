// Settings validation and expansion: bad values fall back to defaults with a message naming them;
// model folders and the output pattern expand the documented variables and nothing else.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_SETTINGS, normalizeSettings, resolveModelPaths } from '../../../src/extension/config/settings';
import { checkOutputPattern, expandOutputPattern, sceneOutputPath, InputError } from '../../../src/engine/editor';

const root = resolve('/projects/docs');

describe('normalizeSettings', () => {
  test('unset values are the defaults, with no problems', () => {
    assert.deepEqual(normalizeSettings({}), { settings: { ...DEFAULT_SETTINGS }, problems: [] });
  });

  test('valid values are taken', () => {
    const { settings, problems } = normalizeSettings({ modelPaths: [' models ', '/opt/sd'], threads: 4, memoryLimitGB: 6.5, renderOnSave: false, outputPattern: 'out/${sceneName}.png', previewFollowsEditor: false, figureFolder: 'figures', saveHints: true, civitaiLookup: false, c2pa: false, c2paCertificate: ' /keys/chain.pem ', promptWriter: ' Ada ', promptLog: false, executionProvider: 'auto', altTextTemplate: '{prompt}, AI-generated', figureCaption: '*{purpose}*', defaultAudience: 'public', requireDisclosure: true, publishedFiles: ['docs/**'], requirePurpose: true, label: 'AI' });
    assert.deepEqual(problems, []);
    assert.deepEqual(settings, { modelPaths: ['models', '/opt/sd'], threads: 4, memoryLimitGB: 6.5, renderOnSave: false, outputPattern: 'out/${sceneName}.png', previewFollowsEditor: false, figureFolder: 'figures', saveHints: true, civitaiLookup: false, c2pa: false, c2paCertificate: '/keys/chain.pem', promptWriter: 'Ada', promptLog: false, executionProvider: 'auto', altTextTemplate: '{prompt}, AI-generated', figureCaption: '*{purpose}*', defaultAudience: 'public', requireDisclosure: true, publishedFiles: ['docs/**'], requirePurpose: true, label: { text: 'AI' } });
  });

  test('provenance settings: on by default, a ~ certificate path expands, wrong types fall back', () => {
    const { settings } = normalizeSettings({});
    assert.equal(settings.c2pa, true);
    assert.equal(settings.promptLog, true);
    assert.equal(normalizeSettings({ c2paCertificate: '~/c2pa/chain.pem' }).settings.c2paCertificate, join(homedir(), 'c2pa/chain.pem'));
    const wrong = normalizeSettings({ c2pa: 'no', promptWriter: 7 });
    assert.equal(wrong.settings.c2pa, true);
    assert.deepEqual(wrong.problems, ['imgprompt.c2pa is "no"; expected true or false. Using true.', 'imgprompt.promptWriter is 7; expected a name. Using "".']);
  });

  test('wrong values fall back to the default and name the setting, the value and the fallback', () => {
    const { settings, problems } = normalizeSettings({ threads: 2.5, memoryLimitGB: -1, renderOnSave: 'yes', modelPaths: 'models', outputPattern: '${sceneDir}/${name}.png' });
    assert.equal(settings.threads, 0);
    assert.equal(settings.memoryLimitGB, 0);
    assert.equal(settings.renderOnSave, true);
    assert.deepEqual(settings.modelPaths, []);
    assert.equal(settings.outputPattern, DEFAULT_SETTINGS.outputPattern);
    assert.deepEqual(problems, [
      'imgprompt.modelPaths is "models"; expected a list of folder paths. Using [].',
      'imgprompt.threads is 2.5; expected a whole number from 0 (automatic) to 256. Using 0.',
      'imgprompt.memoryLimitGB is -1; expected a number of gigabytes from 0 (no limit) to 4096. Using 0.',
      'imgprompt.renderOnSave is "yes"; expected true or false. Using true.',
      'imgprompt.outputPattern: unknown variable ${name} in "${sceneDir}/${name}.png"; allowed: ${sceneDir}, ${sceneName}, ${workspaceFolder}. Using "${sceneDir}/${sceneName}.png".',
    ]);
  });

  test('an execution provider that is not one of the list falls back to cpu', () => {
    const { settings, problems } = normalizeSettings({ executionProvider: 'tpu' });
    assert.equal(settings.executionProvider, 'cpu');
    assert.deepEqual(problems, ['imgprompt.executionProvider is "tpu"; expected one of auto, cpu, cuda, dml, coreml, webgpu. Using "cpu".']);
  });

  test('bad entries of modelPaths are dropped one by one', () => {
    const { settings, problems } = normalizeSettings({ modelPaths: ['a', 3, '', 'b'] });
    assert.deepEqual(settings.modelPaths, ['a', 'b']);
    assert.deepEqual(problems, ['imgprompt.modelPaths[1] is 3; expected a folder path. Ignored.', 'imgprompt.modelPaths[2] is ""; expected a folder path. Ignored.']);
  });
});

describe('resolveModelPaths', () => {
  test('relative paths resolve against the workspace folder; ~ and ${workspaceFolder} expand; duplicates go', () => {
    const home = resolve('/home/ada');
    assert.deepEqual(resolveModelPaths(['models', '~/sd', '${workspaceFolder}/models', '/abs/m'], root, home), [join(root, 'models'), join(home, 'sd'), resolve('/abs/m')]);
  });

  test('without a workspace folder only absolute and home paths remain', () => {
    assert.deepEqual(resolveModelPaths(['models', '${workspaceFolder}/m', '~/sd'], undefined, '/h'), [join('/h', 'sd')]);
  });
});

describe('output pattern', () => {
  test('expands the three variables', () => {
    const values = { sceneDir: join(root, 'figs'), sceneName: 'chart', workspaceFolder: root };
    assert.equal(expandOutputPattern('${sceneDir}/${sceneName}.png', values), join(root, 'figs', 'chart.png'));
    assert.equal(expandOutputPattern('${workspaceFolder}/out/${sceneName}.png', values), join(root, 'out', 'chart.png'));
    assert.equal(expandOutputPattern('rendered/${sceneName}.png', values), join(root, 'figs', 'rendered', 'chart.png'));
  });

  test('rejects unknown variables and non-PNG names', () => {
    assert.match(checkOutputPattern('${sceneDir}/${scene}.png') ?? '', /unknown variable \$\{scene\}/);
    assert.match(checkOutputPattern('${sceneDir}/${sceneName}.jpg') ?? '', /must end in \.png/);
    assert.equal(checkOutputPattern('${sceneDir}/${sceneName}.PNG'), undefined);
    assert.throws(() => expandOutputPattern('${x}.png', { sceneDir: root, sceneName: 'a', workspaceFolder: root }), InputError);
  });

  test('${workspaceFolder} outside a workspace is an error, and sceneOutputPath falls back to the default', () => {
    assert.throws(() => expandOutputPattern('${workspaceFolder}/${sceneName}.png', { sceneDir: root, sceneName: 'a', workspaceFolder: undefined }), /no value for this scene/);
    assert.equal(sceneOutputPath(join(root, 'a.imgprompt'), { pattern: '${workspaceFolder}/x/${sceneName}.png' }), join(root, 'a.png'));
  });

  test("a scene's own output wins over the pattern", () => {
    assert.equal(sceneOutputPath(join(root, 'a.imgprompt'), { written: join(root, 'b.png'), pattern: 'out/${sceneName}.png', workspaceFolder: root }), join(root, 'b.png'));
    assert.equal(sceneOutputPath(join(root, 'a.imgprompt'), { pattern: 'out/${sceneName}.png', workspaceFolder: root }), join(root, 'out', 'a.png'));
  });
});

test('a disclosure template with an unknown placeholder is reported and the default used', () => {
  const { settings, problems } = normalizeSettings({ altTextTemplate: '{prompt} by {modle}', defaultAudience: 'everyone' });
  assert.equal(settings.altTextTemplate, '{prompt} (AI-generated image, {model}, {date})');
  assert.equal(settings.defaultAudience, 'team');
  assert.equal(problems.length, 2);
  assert.match(problems[0], /altTextTemplate: unknown placeholder \{modle\}/);
});

test('imgprompt.label: none by default; text or an object is taken; a bad value is reported and gives no label', () => {
  assert.equal(normalizeSettings({}).settings.label, null);
  assert.deepEqual(normalizeSettings({ label: 'AI-generated' }).settings.label, { text: 'AI-generated' });
  assert.deepEqual(normalizeSettings({ label: { corner: 'top-left', opacity: 0.5 } }).settings.label, { corner: 'top-left', opacity: 0.5 });
  const bad = normalizeSettings({ label: { corner: 'centre' } });
  assert.equal(bad.settings.label, null);
  assert.match(bad.problems.join('\n'), /imgprompt\.label\.corner must be one of .*\. Using no label\./);
});
