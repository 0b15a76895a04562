// readModelConfig / locateModel on config-only model folders (test/fixtures/models).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { locateModel, ModelConfigCache, ModelError, readModelConfig, type SceneFileSystem } from '../../../src/engine/index';

const models = resolve(__dirname, '../../fixtures/models');

describe('readModelConfig', () => {
  test('Stable Diffusion 1.5: grid 64, native 512x512, SD 1.5 defaults for missing fields', () => {
    const m = readModelConfig(join(models, 'sd15'));
    assert.equal(m.name, 'sd15');
    assert.equal(m.vaeScaleFactor, 8);
    assert.equal(m.unetDownsampleFactor, 8);
    assert.equal(m.grid, 64);
    assert.deepEqual([m.nativeWidth, m.nativeHeight], [512, 512]);
    // The exported VAE config has no scaling_factor; SD 1.5's is 0.18215 (its published vae config).
    assert.equal(m.vae.scalingFactor, 0.18215);
    assert.equal(m.scheduler.className, 'PNDMScheduler');
    assert.equal(m.scheduler.config.stepsOffset, 1);
    assert.equal(m.scheduler.config.betaSchedule, 'scaled_linear');
    assert.equal(m.unet.crossAttentionDim, 768);
    assert.equal(m.tokenizer.modelMaxLength, 77);
    assert.equal(m.tokenizer.bosToken, '<|startoftext|>');
    assert.equal(m.tokenizer.padToken, '<|endoftext|>');
    // PNDM is not one of ours: the default falls back to euler, the usual stand-in for it.
    assert.deepEqual(m.defaults, { sampler: 'euler', schedule: 'normal', steps: 20, guidance: 7.5 });
    assert.ok(m.components.includes('vae_decoder') && !m.components.includes('_class_name'));
  });

  test('tiny-shapes layout: grid 32, native 128x128, buckets and defaults from model_index.json', () => {
    const m = readModelConfig(join(models, 'tiny-shapes'));
    assert.equal(m.grid, 32);
    assert.deepEqual([m.nativeWidth, m.nativeHeight], [128, 128]);
    assert.equal(m.vae.scalingFactor, 0.5);
    assert.equal(m.defaults.guidance, 4);
    assert.equal(m.defaults.sampler, 'euler');
    assert.deepEqual(m.buckets[1], { width: 160, height: 96 });
    // A tokenizer without a limit writes a huge sentinel; the text encoder's 32 positions win.
    assert.equal(m.tokenizer.modelMaxLength, 32);
  });

  test('errors name the file at fault', () => {
    assert.throws(() => readModelConfig(join(models, 'broken-unet')), (e: unknown) => {
      assert.ok(e instanceof ModelError);
      assert.equal(e.path, join(models, 'broken-unet', 'unet', 'config.json'));
      assert.match(e.message, /malformed JSON/);
      return true;
    });
    assert.throws(() => readModelConfig(join(models, 'no-index')), (e: unknown) => e instanceof ModelError && e.path === join(models, 'no-index', 'model_index.json'));
    assert.throws(() => readModelConfig(join(models, 'nowhere')), /model folder not found/);
  });

  test('fields of the wrong type are named with the file', () => {
    const files: Record<string, string> = {
      '/m/model_index.json': '{}',
      '/m/unet/config.json': '{"sample_size": "large"}',
    };
    const fs: SceneFileSystem = {
      stat: (p) => (p === '/m' || p === '/m/unet' ? 'directory' : p in files ? 'file' : undefined),
      readText: (p) => files[p],
    };
    assert.throws(() => readModelConfig('/m', fs), /\/m\/unet\/config\.json: field 'sample_size' is "large"/);
    files['/m/unet/config.json'] = '{"sample_size": [24, 40]}';
    const m = readModelConfig('/m', fs);
    assert.deepEqual([m.nativeWidth, m.nativeHeight], [320, 192]);
    files['/m/scheduler/scheduler_config.json'] = '{"_class_name": "LCMScheduler"}';
    assert.deepEqual(readModelConfig('/m', fs).defaults, { sampler: 'lcm', schedule: 'normal', steps: 4, guidance: 1, distillation: { kind: 'lcm', signal: 'scheduler LCMScheduler' } });
  });
});

describe('locateModel', () => {
  const dirs = new Set(['/scenes/local', '/a/m1', '/b/m1', '/b/m2', '/builtin/tiny']);
  const fs: SceneFileSystem = { stat: (p) => (dirs.has(p) ? 'directory' : undefined), readText: () => undefined };
  const lookup = { sceneDir: '/scenes', modelSearchPaths: ['/a', '/b'], builtinModelsDir: '/builtin', fs };

  test('bare names search the configured folders in order, then the built-in one', () => {
    assert.deepEqual(locateModel('m1', lookup), { dir: '/a/m1', via: 'search', name: 'm1' });
    assert.deepEqual(locateModel('m2', lookup), { dir: '/b/m2', via: 'search', name: 'm2' });
    assert.deepEqual(locateModel('tiny', lookup), { dir: '/builtin/tiny', via: 'builtin', name: 'tiny' });
    assert.deepEqual(locateModel('none', lookup), { searched: ['/a/none', '/b/none', '/builtin/none'] });
  });

  test('paths resolve against the scene folder only', () => {
    assert.deepEqual(locateModel('./local', lookup), { dir: '/scenes/local', via: 'path', name: './local' });
    assert.deepEqual(locateModel('local', lookup), { searched: ['/a/local', '/b/local', '/builtin/local'] });
  });
});

describe('ModelConfigCache', () => {
  test('reads a folder once until invalidated; does not cache errors', () => {
    let reads = 0;
    const files: Record<string, string> = { '/m/model_index.json': '{}', '/m/unet/config.json': '{"sample_size": 8}' };
    const fs: SceneFileSystem = {
      stat: (p) => (p === '/m' ? 'directory' : p in files ? 'file' : undefined),
      readText: (p) => {
        reads++;
        return files[p];
      },
    };
    const cache = new ModelConfigCache(fs);
    const first = cache.load('/m');
    const readsOnce = reads;
    assert.equal(cache.load('/m'), first);
    assert.equal(reads, readsOnce);
    cache.invalidate('/m');
    files['/m/unet/config.json'] = '{"sample_size": 16}';
    assert.equal(cache.load('/m').nativeWidth, 128);
    assert.throws(() => cache.load('/nowhere'), ModelError);
  });
});
