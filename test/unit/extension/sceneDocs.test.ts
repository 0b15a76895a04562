// Hover and completion documentation comes from the JSON Schema; every key and enumerated value the
// engine accepts must be documented there, so a new key cannot ship without docs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTROL_KEYS, CONTROL_TYPES, INIT_KEYS, LORA_KEYS, PRECISIONS, SAMPLERS, SCENE_KEYS, SCHEDULES, SIZE_BUDGET_KEYS, SIZE_PIXEL_KEYS } from '../../../src/engine/scene/sceneSpec';
import { description, enumValues, genericPath, keyDocumentation, keysAt, valueDocumentation } from '../../../src/extension/language/sceneDocs';

describe('sceneDocs', () => {
  test('every scene key and nested key has a description', () => {
    const paths = [
      ...SCENE_KEYS,
      ...[...SIZE_BUDGET_KEYS, ...SIZE_PIXEL_KEYS].map((k) => `size.${k}`),
      ...LORA_KEYS.map((k) => `loras[].${k}`),
      ...CONTROL_KEYS.map((k) => `control[].${k}`),
      ...INIT_KEYS.map((k) => `init.${k}`),
      'variants.seeds',
    ];
    for (const path of paths) assert.ok(description(path), `no description for ${path}`);
  });

  test('keys offered under each parent are the engine keys', () => {
    assert.deepEqual(keysAt(''), [...SCENE_KEYS]);
    assert.deepEqual(new Set(keysAt('size')), new Set([...SIZE_BUDGET_KEYS, ...SIZE_PIXEL_KEYS]));
    assert.deepEqual(keysAt('loras[]'), [...LORA_KEYS]);
    assert.deepEqual(keysAt('control[]'), [...CONTROL_KEYS]);
    assert.deepEqual(keysAt('variants.seeds[]'), []);
  });

  test('enumerations list the engine values, samplers with descriptions', () => {
    assert.deepEqual(enumValues('sampler').map((v) => v.value), [...SAMPLERS]);
    assert.ok(enumValues('sampler').every((v) => v.description));
    assert.deepEqual(enumValues('schedule').map((v) => v.value), [...SCHEDULES]);
    assert.deepEqual(enumValues('control[3].type').map((v) => v.value), [...CONTROL_TYPES]);
    assert.deepEqual(enumValues('precision').map((v) => v.value), [...PRECISIONS]);
    assert.ok(enumValues('precision').every((v) => v.description));
  });

  test('key documentation shows values, range and default', () => {
    const sampler = keyDocumentation('sampler') ?? '';
    assert.match(sampler, /^\*\*sampler\*\*/);
    assert.match(sampler, /- `euler_a` — Euler ancestral/);
    assert.match(keyDocumentation('steps') ?? '', /Range: ≥ 1, ≤ 1000/);
    assert.match(keyDocumentation('size.megapixels') ?? '', /Range: > 0, ≤ 64/);
    assert.match(keyDocumentation('loras[0].weight') ?? '', /\*\*loras\[\]\.weight\*\*[\s\S]*Default: `1`/);
    assert.equal(keyDocumentation('colour'), undefined);
  });

  test('value documentation for enumerated values only', () => {
    assert.equal(valueDocumentation('sampler', 'dpmpp_2m'), '**sampler: dpmpp_2m**\n\nDPM-Solver++ 2M (second-order multistep)');
    assert.equal(valueDocumentation('sampler', 'dpm'), undefined);
    assert.equal(valueDocumentation('prompt', 'euler'), undefined);
    assert.equal(genericPath('control[12].image'), 'control[].image');
  });
});
