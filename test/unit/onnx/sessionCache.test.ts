import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CancelledError, ModelError } from '../../../src/engine/errors';
import { nodeModelFileSystem, type ModelFileSystem, type OnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { OnnxSession } from '../../../src/engine/onnx/onnxSession';
import { SessionCache, type WeightPatch } from '../../../src/engine/onnx/sessionCache';
import { UNet } from '../../../src/engine/model/unet';
import { acquireComponent } from '../../../src/engine/model/componentLease';
import { VAEDecoder } from '../../../src/engine/model/vaeDecoder';
import { VAEEncoder } from '../../../src/engine/model/vaeEncoder';
import { asFloatTensor, fixture, maxAbsDiff } from '../model/onnxFixtures';

const root = mkdtempSync(join(tmpdir(), 'imgprompt-session-cache-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The real file system, counting reads per path. */
function countingFs(): { fs: ModelFileSystem; reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    fs: {
      stat: (p) => nodeModelFileSystem.stat(p),
      readFile: (p) => {
        reads.push(p);
        return nodeModelFileSystem.readFile(p);
      },
    },
  };
}

const opts = { intraOpNumThreads: 1 };

test('a second acquire is a hit: same session, no file read again', async () => {
  const { fs, reads } = countingFs();
  const cache = new SessionCache({ fs });
  const f = fixture('unet_external_data');
  const a = await cache.acquire({ modelPath: f.modelPath, options: opts });
  // External weights are only stat()ed: onnxruntime reads them from disk itself.
  assert.deepEqual(reads.map((p) => p.slice(f.dir.length + 1)), ['model.onnx']);
  a.release();
  const b = await cache.acquire({ modelPath: f.modelPath, options: opts });
  assert.equal(b.session, a.session);
  assert.equal(reads.length, 1, 'no re-read on a hit');
  assert.deepEqual({ hits: cache.stats.hits, misses: cache.stats.misses, entries: cache.stats.entries }, { hits: 1, misses: 1, entries: 1 });
  assert.equal(cache.stats.bytes, 7408 + 4288, 'memory estimate = model.onnx + model.onnx_data sizes');
  b.release();
  // Different session options are a different session.
  const c = await cache.acquire({ modelPath: f.modelPath, options: { intraOpNumThreads: 2 } });
  assert.notEqual(c.session, a.session);
  assert.equal(c.session.options.intraOpNumThreads, 2);
  c.release();
  await cache.clear();
  assert.equal(a.session.isDisposed, true);
  assert.equal(c.session.isDisposed, true);
});

test('concurrent acquires of one component share one load', async () => {
  const { fs, reads } = countingFs();
  const cache = new SessionCache({ fs });
  const path = fixture('vae_decoder').modelPath;
  const [a, b] = await Promise.all([cache.acquire({ modelPath: path, options: opts }), cache.acquire({ modelPath: path, options: opts })]);
  assert.equal(a.session, b.session);
  assert.equal(reads.length, 1);
  a.release();
  b.release();
  await cache.clear();
});

test('a changed file on disk is noticed by stat and reloaded', async () => {
  const dir = join(root, 'changed');
  mkdirSync(dir);
  copyFileSync(fixture('vae_decoder').modelPath, join(dir, 'model.onnx'));
  const { fs, reads } = countingFs();
  const cache = new SessionCache({ fs });
  const a = await cache.acquire({ modelPath: join(dir, 'model.onnx'), options: opts });
  a.release();
  utimesSync(join(dir, 'model.onnx'), new Date(), new Date(Date.now() + 5000));
  const b = await cache.acquire({ modelPath: join(dir, 'model.onnx'), options: opts });
  assert.notEqual(b.session, a.session);
  assert.equal(reads.length, 2);
  assert.equal(a.session.isDisposed, true, 'the stale session is released');
  b.release();
  await cache.clear();
});

test('over budget, the least recently used idle session is evicted and released; leased ones wait', async () => {
  const decoder = fixture('vae_decoder'); // 3087 bytes
  const encoder = fixture('vae_encoder_latent_sample'); // 2814 bytes
  const text = fixture('text_encoder_int32'); // 12772 bytes
  const cache = new SessionCache({ budgetBytes: 16000 });
  const a = await cache.acquire({ modelPath: decoder.modelPath, options: opts });
  const b = await cache.acquire({ modelPath: encoder.modelPath, options: opts });
  a.release();
  b.release();
  // Use the decoder again so the encoder becomes least recently used.
  (await cache.acquire({ modelPath: decoder.modelPath, options: opts })).release();
  const c = await cache.acquire({ modelPath: text.modelPath, options: opts });
  assert.equal(b.session.isDisposed, true, 'LRU idle entry evicted');
  assert.equal(a.session.isDisposed, false);
  assert.equal(cache.stats.evictions, 1);
  assert.equal(cache.stats.entries, 2);
  // A leased session evicted by a further load is released only when its lease is returned.
  const d = await cache.acquire({ modelPath: fixture('unet_timestep_float32_batch').modelPath, options: opts });
  assert.equal(c.session.isDisposed, false, 'still leased');
  assert.equal(a.session.isDisposed, true);
  c.release();
  c.release(); // idempotent
  d.release();
  await cache.clear();
  assert.equal(c.session.isDisposed, true);
  assert.equal(d.session.isDisposed, true);
});

test('a weight patch is applied before session creation and keyed separately', async () => {
  const f = fixture('unet_external_data');
  let applied = 0;
  // Zero all external weights: the output changes, the unpatched session is untouched.
  const zero: WeightPatch = {
    key: 'zero-weights',
    apply: (files: OnnxModelFiles) => {
      applied++;
      return { ...files, externalData: files.externalData.map((d) => ({ ...d, data: new Uint8Array(d.data!.length) })) };
    },
  };
  const { fs, reads } = countingFs();
  const cache = new SessionCache({ fs });
  const input = {
    sample: asFloatTensor(f.inputs.sample),
    timestep: f.inputs.timestep.data,
    encoderHiddenStates: asFloatTensor(f.inputs.encoder_hidden_states),
  };
  const plain = await cache.acquire({ modelPath: f.modelPath, options: opts });
  const patched = await cache.acquire({ modelPath: f.modelPath, options: opts, patch: zero });
  const again = await cache.acquire({ modelPath: f.modelPath, options: opts, patch: zero });
  assert.equal(applied, 1);
  assert.deepEqual(reads.map((p) => p.slice(f.dir.length + 1)), ['model.onnx', 'model.onnx', 'model.onnx_data'], 'weights read into memory only to patch them');
  assert.equal(again.session, patched.session);
  assert.notEqual(patched.session, plain.session);
  const zeroOut = await new UNet(patched.session).predict(input);
  assert.ok(zeroOut.data.every((v) => v === 0), 'all-zero weights and biases give a zero output');
  assert.ok(maxAbsDiff(await new UNet(plain.session).predict(input), f.outputs.out_sample) <= f.tolerance);
  for (const lease of [plain, patched, again]) lease.release();
  await cache.clear();
});

test('a failed load is not cached; an aborted acquire throws CancelledError', async () => {
  const cache = new SessionCache();
  const missing = join(root, 'nothing', 'model.onnx');
  await assert.rejects(cache.acquire({ modelPath: missing }), /component folder not found/);
  assert.equal(cache.stats.entries, 0);
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(cache.acquire({ modelPath: fixture('vae_decoder').modelPath }, controller.signal), CancelledError);
});

test('the default session factory is OnnxSession.create with resolved options', async () => {
  let created = 0;
  const cache = new SessionCache({
    createSession: (files, o) => {
      created++;
      assert.equal(o.intraOpNumThreads, 1);
      assert.equal(o.graphOptimizationLevel, 'all');
      assert.equal(o.deterministic, true);
      return OnnxSession.create(files, o);
    },
  });
  const lease = await cache.acquire({ modelPath: fixture('vae_decoder').modelPath, options: opts });
  lease.release();
  assert.equal(created, 1);
  await cache.clear();
});

test('acquireComponent wraps the cached session, and releases it when the graph does not fit', async () => {
  const cache = new SessionCache({ budgetBytes: 1 });
  const dir = fixture('vae_decoder').dir;
  const lease = await acquireComponent(cache, dir, VAEDecoder, { options: opts });
  assert.ok(lease.component instanceof VAEDecoder);
  lease.release();
  await assert.rejects(acquireComponent(cache, dir, UNet, { options: opts }), /cannot be used as a UNet/);
  // Nothing is leased any more, so the tiny budget lets the next load evict it.
  const other = await acquireComponent(cache, fixture('vae_encoder_latent_sample').dir, VAEEncoder, { options: opts });
  assert.equal(lease.component.session.isDisposed, true);
  other.release();
  await assert.rejects(acquireComponent(cache, join(root, 'missing-component'), UNet), /component folder not found/);
  await cache.clear();
});

test('a load that does not fit in the available memory fails with an error saying what it needs; idle sessions are evicted first', async () => {
  const f = fixture('unet_external_data');
  const weights = 7408 + 4288;
  const headroom = 256 * 1024 * 1024;
  let available = 1000;
  const cache = new SessionCache({ availableMemory: () => available });
  await assert.rejects(cache.acquire({ modelPath: f.modelPath, options: opts }), (error: unknown) => {
    assert.ok(error instanceof ModelError);
    assert.equal(error.path, f.modelPath);
    assert.match(error.message, /not enough memory to load this model: it needs about 256 MB \(weights 12 KB\) and 1 KB is available/);
    return true;
  });
  assert.equal(cache.stats.entries, 0, 'the failed load is not cached');
  // Enough memory: it loads; a patched load needs the weights twice.
  available = weights + headroom;
  const plain = await cache.acquire({ modelPath: f.modelPath, options: opts });
  plain.release();
  const patch: WeightPatch = { key: 'copy', apply: (files) => files };
  available = weights + headroom - 1;
  const decoder = fixture('vae_decoder').modelPath;
  await assert.rejects(cache.acquire({ modelPath: f.modelPath, options: opts, patch }), /of files read to be patched/);
  assert.equal(plain.session.isDisposed, false, 'the idle session alone would not make room, so it stays');
  // Room appears once the idle session goes: it is evicted and the load succeeds.
  available = statSync(decoder).size + headroom - weights;
  const d = await cache.acquire({ modelPath: decoder, options: opts });
  assert.equal(plain.session.isDisposed, true, 'the idle session was evicted to make room');
  d.release();
  await cache.clear();
});

test('memoryLimitBytes caps what loaded sessions may take', async () => {
  const cache = new SessionCache({ availableMemory: () => 64 * 1024 ** 3, memoryLimitBytes: 100 * 1024 * 1024 });
  await assert.rejects(cache.acquire({ modelPath: fixture('vae_decoder').modelPath, options: opts }), /not enough memory to load this model: it needs about 256 MB .* and 100 MB is available/);
  await cache.clear();
});

test('a cacheable patch is stored in the optimized-graph cache and a later load skips reading and patching', async () => {
  const f = fixture('unet_external_data');
  const dir = join(root, 'optimized-patched');
  let applied = 0;
  const halve: WeightPatch = {
    key: 'halve',
    cacheable: true,
    apply: (files: OnnxModelFiles) => {
      applied++;
      return { ...files, externalData: files.externalData.map((d) => ({ ...d, data: new Uint8Array(d.data!.length) })) };
    },
  };
  const options = { ...opts, optimizedCacheDir: dir };
  const first = countingFs();
  const a = new SessionCache({ fs: first.fs });
  const stored = await a.acquire({ modelPath: f.modelPath, options, patch: halve });
  assert.equal(stored.session.optimizedCache, 'stored');
  stored.release();
  await a.clear();
  const second = countingFs();
  const b = new SessionCache({ fs: second.fs });
  const hit = await b.acquire({ modelPath: f.modelPath, options, patch: halve });
  assert.equal(hit.session.optimizedCache, 'hit');
  assert.equal(applied, 1, 'the patch is not applied again');
  assert.deepEqual(second.reads.map((p) => p.slice(f.dir.length + 1)), ['model.onnx'], 'the weights are not read into memory');
  const input = { sample: asFloatTensor(f.inputs.sample), timestep: f.inputs.timestep.data, encoderHiddenStates: asFloatTensor(f.inputs.encoder_hidden_states) };
  assert.ok((await new UNet(hit.session).predict(input)).data.every((v) => v === 0), 'the cached graph is the patched one');
  hit.release();
  // The same patch marked not cacheable (a LoRA set) never reaches the cache.
  const lora: WeightPatch = { ...halve, key: 'lora-like', cacheable: false };
  const c = new SessionCache();
  const off = await c.acquire({ modelPath: f.modelPath, options, patch: lora });
  assert.equal(off.session.optimizedCache, 'off');
  off.release();
  await Promise.all([b.clear(), c.clear()]);
});
