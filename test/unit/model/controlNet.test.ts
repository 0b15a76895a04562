// ControlNet plumbing: which steps a control applies to (diffusers' control_guidance_start/end rule),
// how residual names are recognised, and summing several ControlNets' residuals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addResiduals, controlActive } from '../../../src/engine/control/controlNet';
import { ModelError } from '../../../src/engine/errors';
import { residualNames } from '../../../src/engine/model/unet';

test('controlActive follows diffusers: keep unless i/n < start or (i+1)/n > end', () => {
  const active = (n: number, start: number, end: number) => Array.from({ length: n }, (_, i) => (controlActive(i, n, start, end) ? 1 : 0)).join('');
  assert.equal(active(10, 0, 1), '1111111111');
  assert.equal(active(10, 0, 0.5), '1111100000');
  assert.equal(active(10, 0.5, 1), '0000011111');
  assert.equal(active(10, 0.2, 0.8), '0011111100');
  assert.equal(active(4, 0, 0), '0000');
  // A window narrower than one step applies nowhere rather than everywhere.
  assert.equal(active(4, 0.3, 0.4), '0000');
});

test('residual values are recognised by name and ordered by index; a gap or a missing mid is an error', () => {
  const v = (name: string) => ({ name, type: 'float32', shape: ['batch', 8, 'h', 'w'] as (number | string)[] });
  const named = residualNames([v('sample'), v('down_block_additional_residual_1'), v('mid_block_additional_residual'), v('down_block_additional_residual_0')], 'm.onnx', 'UNet');
  assert.deepEqual(named?.down.map((d) => d.name), ['down_block_additional_residual_0', 'down_block_additional_residual_1']);
  assert.equal(named?.mid.name, 'mid_block_additional_residual');
  const outputs = residualNames([v('down_block_res_sample_0'), v('mid_block_res_sample')], 'c.onnx', 'ControlNet');
  assert.deepEqual(outputs?.down.map((d) => d.name), ['down_block_res_sample_0']);
  assert.equal(residualNames([v('sample'), v('timestep')], 'm.onnx', 'UNet'), undefined);
  assert.throws(() => residualNames([v('down_block_additional_residual_0'), v('down_block_additional_residual_2'), v('mid_block_additional_residual')], 'm.onnx', 'UNet'), (e: unknown) => e instanceof ModelError && /missing index 1/.test(e.message));
  assert.throws(() => residualNames([v('down_block_additional_residual_0')], 'm.onnx', 'UNet'), (e: unknown) => e instanceof ModelError && /no mid-block/.test(e.message));
});

test('residuals of several ControlNets are summed element-wise; mismatched sets are refused', () => {
  const t = (...values: number[]) => ({ data: Float32Array.from(values), dims: [1, values.length, 1, 1] });
  const sum = addResiduals({ down: [t(1, 2), t(3)], mid: t(5) }, { down: [t(10, 20), t(30)], mid: t(50) });
  assert.deepEqual([...sum.down[0].data], [11, 22]);
  assert.deepEqual([...sum.down[1].data], [33]);
  assert.deepEqual([...sum.mid.data], [55]);
  assert.throws(() => addResiduals({ down: [t(1)], mid: t(1) }, { down: [t(1), t(2)], mid: t(1) }), RangeError);
});
