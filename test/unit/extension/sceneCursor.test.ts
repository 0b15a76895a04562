// The completion context read from scene text: keys vs values, parents through block mappings, list
// items and flow mappings, and the places where nothing should be offered.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sceneCursor } from '../../../src/extension/language/sceneCursor';

/** The cursor at the `|` in `text` (which is removed). */
function at(text: string) {
  const offset = text.indexOf('|');
  assert.ok(offset >= 0, 'test text needs a | for the cursor');
  const clean = text.slice(0, offset) + text.slice(offset + 1);
  const before = clean.slice(0, offset).split('\n');
  return sceneCursor(clean, before.length - 1, before[before.length - 1].length);
}

describe('sceneCursor', () => {
  test('a word at the start of a line is a top-level key', () => {
    assert.deepEqual(at('prompt: x\nsam|'), { kind: 'key', parent: '', prefix: 'sam', start: 0, flow: false });
    assert.deepEqual(at('|'), { kind: 'key', parent: '', prefix: '', start: 0, flow: false });
  });

  test('after "key: " the value of that key is being typed', () => {
    assert.deepEqual(at('sampler: |'), { kind: 'value', path: 'sampler', prefix: '', start: 9, flow: false });
    assert.deepEqual(at('schedule: kar|'), { kind: 'value', path: 'schedule', prefix: 'kar', start: 10, flow: false });
  });

  test('right after the colon, before the space, nothing is offered (YAML needs the space)', () => {
    assert.deepEqual(at('sampler:|'), { kind: 'none' });
  });

  test('an opening quote is remembered and not part of the prefix', () => {
    assert.deepEqual(at('output: "fig|'), { kind: 'value', path: 'output', prefix: 'fig', start: 9, quote: '"', flow: false });
    assert.deepEqual(at('output: "fig.png"|'), { kind: 'none' });
  });

  test('keys and values inside list items get the list parent', () => {
    const scene = 'prompt: p\nloras:\n  - file: a.safetensors\n    weight: 0.8\n';
    assert.deepEqual(at(`${scene}  - fi|`), { kind: 'key', parent: 'loras[]', prefix: 'fi', start: 4, flow: false });
    assert.deepEqual(at(`${scene}    wei|`), { kind: 'key', parent: 'loras[]', prefix: 'wei', start: 4, flow: false });
    assert.deepEqual(at(`${scene}  - file: lo|`), { kind: 'value', path: 'loras[].file', prefix: 'lo', start: 10, flow: false });
    assert.deepEqual(at('control:\n- type: |'), { kind: 'value', path: 'control[].type', prefix: '', start: 8, flow: false });
  });

  test('a second key of a list item, on its own line, is under the list', () => {
    assert.deepEqual(at('control:\n  - type: canny\n    image: hi|'), { kind: 'value', path: 'control[].image', prefix: 'hi', start: 11, flow: false });
  });

  test('nested block mappings', () => {
    assert.deepEqual(at('size:\n  megapixels: 0.2\n  asp|'), { kind: 'key', parent: 'size', prefix: 'asp', start: 2, flow: false });
    assert.deepEqual(at('init:\n  image: |'), { kind: 'value', path: 'init.image', prefix: '', start: 9, flow: false });
    // A list of plain values: a key position whose parent has no keys, so completion offers nothing.
    assert.deepEqual(at('variants:\n  seeds:\n    - |'), { kind: 'key', parent: 'variants.seeds[]', prefix: '', start: 6, flow: false });
  });

  test('flow mappings on one line', () => {
    assert.deepEqual(at('size: {megapixels: 0.2, asp|'), { kind: 'key', parent: 'size', prefix: 'asp', start: 24, flow: true });
    assert.deepEqual(at('size: {megapixels: 0.2, aspect: "16|'), { kind: 'value', path: 'size.aspect', prefix: '16', start: 33, quote: '"', flow: true });
    assert.deepEqual(at('init: {image: |'), { kind: 'value', path: 'init.image', prefix: '', start: 14, flow: true });
    assert.deepEqual(at('loras:\n  - {file: x.safetensors, wei|'), { kind: 'key', parent: 'loras[]', prefix: 'wei', start: 26, flow: true });
  });

  test('flow sequences, comments and multi-line text offer nothing', () => {
    assert.deepEqual(at('variants: {seeds: [1, |'), { kind: 'none' });
    assert.deepEqual(at('# a comm|'), { kind: 'none' });
    assert.deepEqual(at('seed: 4 # not a val|'), { kind: 'none' });
    assert.deepEqual(at('purpose: >\n  Shows the|'), { kind: 'none' });
    assert.deepEqual(at('prompt: a red circle\n  on|'), { kind: 'none' });
  });

  test('a key after a finished nested block is top-level again', () => {
    assert.deepEqual(at('loras:\n  - file: a.safetensors\nsampler: |'), { kind: 'value', path: 'sampler', prefix: '', start: 9, flow: false });
  });

  test('CRLF line endings', () => {
    assert.deepEqual(at('size:\r\n  wid|'), { kind: 'key', parent: 'size', prefix: 'wid', start: 2, flow: false });
  });
});
