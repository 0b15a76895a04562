// The editor's licence cache: a miss reads asynchronously and calls back once; a hit within the
// freshness window answers synchronously with what was read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LicenceCache } from '../../../src/extension/diagnostics/licenceCache';
import { modelDir } from '../../engine/modelUnderTest';

test('a miss loads once and calls back; then the licences are there', async () => {
  const cache = new LicenceCache();
  const resolved = { recipe: { scene: join(modelDir, 'figure.imgprompt'), model: { path: modelDir, ref: 'tiny-shapes' }, loras: [{ path: join(modelDir, 'loras', 'outline.safetensors'), ref: 'outline' }] } } as never;
  let calls = 0;
  let loaded!: () => void;
  const done = new Promise<void>((resolve) => (loaded = resolve));
  assert.equal(cache.get(resolved, () => { calls++; loaded(); }), undefined);
  assert.equal(cache.get(resolved, () => calls++), undefined, 'a second miss while loading starts no second read');
  await done;
  const licences = cache.get(resolved, () => calls++);
  assert.deepEqual(licences?.map((l) => [l.what, l.licence.id]), [['model', 'mit'], ['lora', 'mit']]);
  assert.equal(calls, 1);
});
