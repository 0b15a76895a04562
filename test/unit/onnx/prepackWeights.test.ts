// Weight prepacking: decided from the model alone (parameter count), applied alike to a first load and to
// an optimized-graph cache hit, and a mapped (unpacked) session computes what a packed one does to float32
// rounding.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readOnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { OnnxSession, PREPACK_MAX_PARAMETERS, prepackWeightsFor, resolveSessionOptions, sessionOptionsKey } from '../../../src/engine/onnx/onnxSession';
import { SessionCache } from '../../../src/engine/onnx/sessionCache';
import { UNet } from '../../../src/engine/model/unet';
import type { OnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { asFloatTensor, fixture, maxAbsDiff } from '../model/onnxFixtures';

const root = mkdtempSync(join(tmpdir(), 'imgprompt-prepack-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A graph description with initializers of the given shapes (no weights behind them: only counted). */
function withShapes(...shapes: number[][]): Pick<OnnxModelFiles, 'info'> {
  return { info: { initializers: shapes.map((dims, i) => ({ name: `w${i}`, dims, dataType: 1, data: { kind: 'raw', offset: 0, length: 0 } })) } } as unknown as Pick<OnnxModelFiles, 'info'>;
}

test('prepacking is decided by the parameter count: packed up to PREPACK_MAX_PARAMETERS, mapped above', () => {
  assert.equal(prepackWeightsFor(withShapes([320, 320], [1280])), true);
  // SD 1.5's UNet (859,520,964 parameters) stays packed; SDXL's (2,567,463,684) is mapped.
  assert.equal(prepackWeightsFor(withShapes([859_520_964])), true);
  assert.equal(prepackWeightsFor(withShapes([2_567_463_684])), false);
  // Exactly at the bound still packs; one more parameter in another tensor does not.
  assert.equal(prepackWeightsFor(withShapes([PREPACK_MAX_PARAMETERS])), true);
  assert.equal(prepackWeightsFor(withShapes([PREPACK_MAX_PARAMETERS], [1])), false);
});

test('an explicit choice is part of the session key; the default is not', () => {
  const base = sessionOptionsKey(resolveSessionOptions({ intraOpNumThreads: 1 }));
  assert.ok(!base.includes('prepack'));
  assert.notEqual(sessionOptionsKey(resolveSessionOptions({ intraOpNumThreads: 1, prepackWeights: false })), sessionOptionsKey(resolveSessionOptions({ intraOpNumThreads: 1, prepackWeights: true })));
});

test('a session resolves the default from its model, and a cache hit keeps the first load\'s choice', async () => {
  const f = fixture('unet_external_data');
  const created = await OnnxSession.create(await readOnnxModelFiles(f.modelPath), { intraOpNumThreads: 1 });
  assert.equal(created.options.prepackWeights, true, 'a small model is packed');
  await created.dispose();
  const dir = join(root, 'optimized');
  const input = { sample: asFloatTensor(f.inputs.sample), timestep: f.inputs.timestep.data, encoderHiddenStates: asFloatTensor(f.inputs.encoder_hidden_states) };
  const outputs: Float32Array[] = [];
  for (const expected of ['stored', 'hit'] as const) {
    const cache = new SessionCache();
    const lease = await cache.acquire({ modelPath: f.modelPath, options: { intraOpNumThreads: 1, optimizedCacheDir: dir, prepackWeights: false } });
    assert.equal(lease.session.optimizedCache, expected);
    assert.equal(lease.session.options.prepackWeights, false);
    outputs.push((await new UNet(lease.session).predict(input)).data);
    lease.release();
    await cache.clear();
  }
  assert.deepEqual(outputs[1], outputs[0], 'the cached mapped graph computes the same bits as the first mapped load');
});

test('mapped and packed weights compute the same function (to float32 rounding), each reproducibly', async () => {
  const f = fixture('unet_external_data');
  const input = { sample: asFloatTensor(f.inputs.sample), timestep: f.inputs.timestep.data, encoderHiddenStates: asFloatTensor(f.inputs.encoder_hidden_states) };
  const run = async (prepackWeights: boolean) => {
    const session = await OnnxSession.create(await readOnnxModelFiles(f.modelPath), { intraOpNumThreads: 1, prepackWeights });
    try {
      return await new UNet(session).predict(input);
    } finally {
      await session.dispose();
    }
  };
  const mapped = await run(false);
  assert.ok(maxAbsDiff(mapped, f.outputs.out_sample ?? Object.values(f.outputs)[0]) <= f.tolerance, 'the mapped session matches the torch reference');
  assert.deepEqual((await run(false)).data, mapped.data, 'mapped twice: the same bits');
  const packed = await run(true);
  for (let i = 0; i < packed.data.length; i++) assert.ok(Math.abs(packed.data[i] - mapped.data[i]) <= 1e-5 * Math.max(1, Math.abs(packed.data[i])), `element ${i}`);
});
