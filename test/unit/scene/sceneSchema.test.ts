// The JSON Schema that YAML tooling reads must describe exactly what the parser accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CONTROL_KEYS, CONTROL_TYPES, INIT_KEYS, LIMITS, LORA_KEYS, PRECISIONS, RNGS, SAMPLERS, SCENE_KEYS, SCHEDULES, SIZE_BUDGET_KEYS, SIZE_PIXEL_KEYS, TUNING_OPTIONS, type TuningOption } from '../../../src/engine/index';

interface SchemaNode {
  description?: string;
  type?: string;
  default?: unknown;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  oneOf?: SchemaNode[];
  enum?: string[];
  minimum?: number;
  maximum?: number;
  required?: string[];
}

const schema = JSON.parse(readFileSync(resolve(__dirname, '../../../schemas/imgprompt.schema.json'), 'utf8')) as SchemaNode & { $schema: string };
const props = schema.properties!;

test('is draft-07 and lists exactly the scene keys, each with a description', () => {
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  assert.deepEqual(Object.keys(props), [...SCENE_KEYS]);
  for (const key of SCENE_KEYS) assert.ok(props[key].description, key);
  assert.deepEqual(schema.required, ['prompt']);
});

test('enums match the parser', () => {
  assert.deepEqual(props.sampler.enum, [...SAMPLERS]);
  assert.deepEqual(props.schedule.enum, [...SCHEDULES]);
  assert.deepEqual(props.rng.enum, [...RNGS]);
  assert.deepEqual(props.precision.enum, [...PRECISIONS]);
  assert.deepEqual(props.control.items!.properties!.type.enum, [...CONTROL_TYPES]);
});

test('nested keys and limits match the parser', () => {
  assert.deepEqual(Object.keys(props.loras.items!.properties!), [...LORA_KEYS]);
  assert.deepEqual(Object.keys(props.control.items!.properties!), [...CONTROL_KEYS]);
  assert.deepEqual(Object.keys(props.init.properties!), [...INIT_KEYS]);
  assert.deepEqual(Object.keys(props.size.oneOf![0].properties!), [...SIZE_BUDGET_KEYS]);
  assert.deepEqual(Object.keys(props.size.oneOf![1].properties!), [...SIZE_PIXEL_KEYS]);
  assert.deepEqual([props.steps.minimum, props.steps.maximum], [LIMITS.steps.min, LIMITS.steps.max]);
  assert.deepEqual([props.guidance.minimum, props.guidance.maximum], [LIMITS.guidance.min, LIMITS.guidance.max]);
  assert.deepEqual([props.loras.items!.properties!.weight.minimum, props.loras.items!.properties!.weight.maximum], [LIMITS.loraWeight.min, LIMITS.loraWeight.max]);
});

test('docs/scene-format.md documents every key', () => {
  const doc = readFileSync(resolve(__dirname, '../../../docs/scene-format.md'), 'utf8');
  for (const key of SCENE_KEYS) assert.match(doc, new RegExp(`^#+ \`${key}\``, 'm'), key);
  for (const name of [...SAMPLERS, ...SCHEDULES, ...CONTROL_TYPES, ...PRECISIONS]) assert.ok(doc.includes(`\`${name}\``), name);
});

test('every tuning option (sceneOptions.ts) is in the schema with its type, limits, default and documentation', () => {
  for (const option of TUNING_OPTIONS as readonly TuningOption[]) {
    const node = props[option.key];
    assert.ok(node, option.key);
    assert.equal(node.description, option.doc, `${option.key}: the schema's description is the registry's doc`);
    assert.equal(node.default, option.default);
    if (option.type === 'number') {
      assert.equal(node.type, option.limits.integer ? 'integer' : 'number');
      assert.deepEqual([node.minimum, node.maximum], [option.limits.min, option.limits.max]);
    } else if (option.type === 'text') assert.equal(node.type, 'string');
    else assert.deepEqual(node.enum, [...option.values]);
  }
});
