// The model card and the model folder list, on the fixture model folders (test/fixtures/models).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readModelConfig } from '../../../src/engine/model/modelConfig';
import { listModelFolders } from '../../../src/extension/completion/modelFolders';
import { componentPresence, formatModelCard } from '../../../src/extension/hover/modelCard';

const models = resolve('test/fixtures/models');

describe('model card', () => {
  test('sd15: native size, grid, scheduler and which graphs are missing on disk', () => {
    const config = readModelConfig(join(models, 'sd15'));
    const components = componentPresence(config, existsSync);
    // The fixture has configs only: every listed graph is missing, the tokenizer and scheduler folders exist.
    assert.ok(components.find((c) => c.name === 'unet')?.listed);
    assert.equal(components.find((c) => c.name === 'unet')?.present, false);
    assert.equal(components.find((c) => c.name === 'scheduler')?.present, true);
    const card = formatModelCard(config, { dir: config.dir, via: 'search', name: 'sd15' }, components);
    assert.match(card, /^\*\*sd15\*\* — from the configured model folders/);
    assert.match(card, /native size 512×512, sizes in multiples of 64 px/);
    assert.match(card, /unet ✗ missing/);
    assert.match(card, /VAE scaling factor 0\.18215/);
    assert.match(card, new RegExp(`scheduler \`${config.scheduler.className}\``));
  });

  test('present graphs are ticked', () => {
    const config = readModelConfig(join(models, 'tiny-shapes'));
    const components = componentPresence(config, (p) => p.endsWith(join('unet', 'model.onnx')) || existsSync(p));
    assert.equal(components.find((c) => c.name === 'unet')?.present, true);
    assert.match(formatModelCard(config, { dir: config.dir, via: 'builtin', name: 'tiny-shapes' }, components), /built into imgprompt[\s\S]*unet ✓/);
  });
});

describe('listModelFolders', () => {
  test('folders with a model_index.json, first place wins, missing places skipped', () => {
    const found = listModelFolders([join(models, 'does-not-exist'), models], models);
    assert.deepEqual(found.map((m) => m.name), ['broken-unet', 'sd15', 'tiny-shapes']);
    assert.ok(found.every((m) => m.via === 'search'));
    assert.deepEqual(listModelFolders([], models).map((m) => m.via), ['builtin', 'builtin', 'builtin']);
  });
});
