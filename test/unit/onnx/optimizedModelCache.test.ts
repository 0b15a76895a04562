import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readOnnxModelFiles, type OnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import { OnnxSession, ONNXRUNTIME_VERSION, type HostTensor, type OnnxSessionOptions } from '../../../src/engine/onnx/onnxSession';
import { MAX_INLINE_BYTES_TO_CACHE, OptimizedModelCache, optimizedModelKey, type OptimizedModelKeyParts } from '../../../src/engine/onnx/optimizedModelCache';
import { fixture } from '../model/onnxFixtures';

const root = mkdtempSync(join(tmpdir(), 'imgprompt-optimized-cache-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `cache-${dirs++}`);

const TINY_UNET = join(__dirname, '..', '..', '..', 'models', 'tiny-shapes', 'unet', 'model.onnx');
const EXTERNAL = fixture('unet_external_data');

/** Deterministic pseudo-random values in [-1, 1) (an LCG; no dependence on Math.random). */
function noise(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function unetFeeds(sequence: number, width: number): Record<string, HostTensor> {
  return {
    sample: { data: noise(2 * 4 * 16 * 16, 1), dims: [2, 4, 16, 16] },
    timestep: { data: [981, 981], dims: [2] },
    encoder_hidden_states: { data: noise(2 * sequence * width, 2), dims: [2, sequence, width] },
  };
}
const TINY_FEEDS = unetFeeds(8, 128);
const EXTERNAL_FEEDS = unetFeeds(8, 16);

async function runOnce(files: OnnxModelFiles, options: OnnxSessionOptions, feeds: Record<string, HostTensor>): Promise<{ out: Float32Array; outcome: string }> {
  const session = await OnnxSession.create(files, options);
  try {
    // A UNet exported for ControlNet takes residuals; zeros [1, C, 1, 1] leave its output as without them.
    const residuals = Object.fromEntries(
      session.inputs.filter((i) => !(i.name in feeds) && /residual/.test(i.name)).map((i) => [i.name, { data: new Float32Array(Number(i.shape[1])), dims: [1, Number(i.shape[1]), 1, 1] }]),
    );
    const result = await session.run({ ...feeds, ...residuals }, ['out_sample']);
    return { out: Float32Array.from(result.out_sample.data), outcome: session.optimizedCache };
  } finally {
    await session.dispose();
  }
}

/** Bit equality of two float32 arrays (so -0/+0 and NaN payloads count as different). */
function assertSameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  assert.deepEqual(new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length), what);
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

test('the key covers every input the optimized graph depends on', async () => {
  const files = await readOnnxModelFiles(EXTERNAL.modelPath);
  const base: OptimizedModelKeyParts = { files, runtimeVersion: '1.30.0', graphOptimizationLevel: 'all', deterministic: true };
  const key = optimizedModelKey(base);
  assert.match(key ?? '', /^[0-9a-f]{64}$/);
  assert.equal(optimizedModelKey({ ...base }), key, 'stable for the same inputs');
  const variants: OptimizedModelKeyParts[] = [
    { ...base, runtimeVersion: '1.30.1' },
    { ...base, graphOptimizationLevel: 'extended' },
    { ...base, deterministic: false },
    { ...base, transformKey: 'lora:abc' },
    { ...base, files: { ...files, modelIdentity: { ...files.modelIdentity, mtimeMs: files.modelIdentity.mtimeMs + 1 } } },
    { ...base, files: { ...files, externalData: files.externalData.map((f) => ({ ...f, size: f.size + 1 })) } },
    { ...base, files: { ...files, modelBytes: Uint8Array.from(files.modelBytes, (b, i) => (i === files.modelBytes.length - 1 ? b ^ 1 : b)) } },
  ];
  const keys = new Set([key, ...variants.map((v) => optimizedModelKey(v))]);
  assert.equal(keys.size, variants.length + 1, 'each change gives a new key');
  assert.equal(optimizedModelKey({ ...base, graphOptimizationLevel: 'disabled' }), undefined, 'nothing to cache without optimization');
  const big = new Uint8Array(MAX_INLINE_BYTES_TO_CACHE + 1);
  assert.equal(optimizedModelKey({ ...base, files: { ...files, modelBytes: big } }), undefined, 'a large model.onnx is not cached');
  assert.ok(optimizedModelKey({ ...base, files: { ...files, modelBytes: big.subarray(1) } }), 'up to the limit it is');
  const inMemory = await readOnnxModelFiles(EXTERNAL.modelPath, { readExternalData: true });
  assert.equal(optimizedModelKey({ ...base, files: inMemory }), undefined, 'weights in memory need a transform key');
  assert.match(optimizedModelKey({ ...base, files: inMemory, transformKey: 'p1' }) ?? '', /^[0-9a-f]{64}$/);
});

test('tiny-shapes UNet: stored on the first load, a hit on the second, same output bits as without the cache', async () => {
  const dir = freshDir();
  const files = await readOnnxModelFiles(TINY_UNET);
  const plain = await runOnce(files, { intraOpNumThreads: 1 }, TINY_FEEDS);
  assert.equal(plain.outcome, 'off');
  const cold = await runOnce(files, { intraOpNumThreads: 1, optimizedCacheDir: dir }, TINY_FEEDS);
  assert.equal(cold.outcome, 'stored');
  const [key, ...others] = entries(dir);
  assert.deepEqual(others, [], 'one entry, no temporary folder left');
  assert.deepEqual(entries(join(dir, key)), ['manifest.json', 'model.onnx', 'model.onnx_data']);
  assert.ok(statSync(join(dir, key, 'model.onnx')).size < statSync(join(dir, key, 'model.onnx_data')).size, 'weights go to the data file');
  const warm = await runOnce(files, { intraOpNumThreads: 1, optimizedCacheDir: dir }, TINY_FEEDS);
  assert.equal(warm.outcome, 'hit');
  assertSameBits(cold.out, plain.out, 'cold with cache vs no cache');
  assertSameBits(warm.out, plain.out, 'cached vs no cache');
  assert.ok(plain.out.some((v) => v !== 0) && plain.out.every(Number.isFinite), 'a real output');
  // Thread count is not in the key: an entry stored at 1 thread serves 2 threads, matching a 2-thread load.
  const plain2 = await runOnce(files, { intraOpNumThreads: 2 }, TINY_FEEDS);
  const warm2 = await runOnce(files, { intraOpNumThreads: 2, optimizedCacheDir: dir }, TINY_FEEDS);
  assert.equal(warm2.outcome, 'hit');
  assertSameBits(warm2.out, plain2.out, 'cached vs no cache at 2 threads');
  assert.deepEqual(entries(dir), [key]);
  // A different level is a different entry.
  const basic = await runOnce(files, { intraOpNumThreads: 1, graphOptimizationLevel: 'basic', optimizedCacheDir: dir }, TINY_FEEDS);
  assert.equal(basic.outcome, 'stored');
  assert.equal(entries(dir).length, 2);
});

test('an entry whose files do not match its manifest is ignored and rewritten', async () => {
  const dir = freshDir();
  const files = await readOnnxModelFiles(EXTERNAL.modelPath);
  const opts = { intraOpNumThreads: 1, optimizedCacheDir: dir };
  const first = await runOnce(files, opts, EXTERNAL_FEEDS);
  assert.equal(first.outcome, 'stored');
  const [key] = entries(dir);
  const cache = new OptimizedModelCache(dir);
  assert.ok(await cache.lookup(key));

  truncateSync(join(dir, key, 'model.onnx_data'), 100);
  assert.equal(await cache.lookup(key), undefined, 'a truncated weights file is a miss');
  const rebuilt = await runOnce(files, opts, EXTERNAL_FEEDS);
  assert.equal(rebuilt.outcome, 'stored', 'the entry is replaced');
  assertSameBits(rebuilt.out, first.out, 'rebuilt');

  // Same size, different bytes in the graph: the manifest's hash catches it.
  const graph = join(dir, key, 'model.onnx');
  const bytes = readFileSync(graph);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(graph, bytes);
  assert.equal(await cache.lookup(key), undefined, 'a changed graph is a miss');
  assert.equal((await runOnce(files, opts, EXTERNAL_FEEDS)).outcome, 'stored');
  assert.equal((await runOnce(files, opts, EXTERNAL_FEEDS)).outcome, 'hit');
});

test('an entry onnxruntime cannot load is deleted and the model loads from its source', async () => {
  const dir = freshDir();
  const files = await readOnnxModelFiles(EXTERNAL.modelPath);
  const opts = { intraOpNumThreads: 1, optimizedCacheDir: dir };
  const first = await runOnce(files, opts, EXTERNAL_FEEDS);
  const [key] = entries(dir);
  // Truncate the weights and record the new size, so the entry passes the manifest check but cannot load.
  const manifestPath = join(dir, key, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { files: { name: string; size: number }[] };
  truncateSync(join(dir, key, 'model.onnx_data'), 64);
  for (const f of manifest.files) if (f.name === 'model.onnx_data') f.size = 64;
  writeFileSync(manifestPath, JSON.stringify(manifest));
  assert.ok(await new OptimizedModelCache(dir).lookup(key), 'passes the manifest check');
  const again = await runOnce(files, opts, EXTERNAL_FEEDS);
  assert.equal(again.outcome, 'stored', 'the broken entry was replaced');
  assertSameBits(again.out, first.out, 'after fallback');
  assert.deepEqual(entries(dir), [key]);
});

test('patched weights in memory: cached only under a transform key, and never confused with the unpatched model', async () => {
  const dir = freshDir();
  const source = await readOnnxModelFiles(EXTERNAL.modelPath);
  const inMemory = await readOnnxModelFiles(EXTERNAL.modelPath, { readExternalData: true });
  // Halve every float32 external weight: a change the graph file does not show.
  const patched: OnnxModelFiles = {
    ...inMemory,
    externalData: inMemory.externalData.map((f) => {
      const data = new Uint8Array(f.data as Uint8Array);
      const floats = new Float32Array(data.buffer, data.byteOffset, data.byteLength >> 2);
      for (let i = 0; i < floats.length; i++) floats[i] *= 0.5;
      return { ...f, data };
    }),
  };
  const plain = await runOnce(source, { intraOpNumThreads: 1 }, EXTERNAL_FEEDS);
  const patchedPlain = await runOnce(patched, { intraOpNumThreads: 1 }, EXTERNAL_FEEDS);
  assert.ok(plain.out.some((v, i) => v !== patchedPlain.out[i]), 'the patch changes the output');

  const unkeyed = await runOnce(patched, { intraOpNumThreads: 1, optimizedCacheDir: dir }, EXTERNAL_FEEDS);
  assert.equal(unkeyed.outcome, 'off');
  assert.deepEqual(entries(dir), [], 'nothing written for unkeyed patched weights');
  assertSameBits(unkeyed.out, patchedPlain.out, 'unkeyed');

  const opts = { intraOpNumThreads: 1, optimizedCacheDir: dir, transformKey: 'halve' };
  assert.equal((await runOnce(patched, opts, EXTERNAL_FEEDS)).outcome, 'stored');
  const hit = await runOnce(patched, opts, EXTERNAL_FEEDS);
  assert.equal(hit.outcome, 'hit');
  assertSameBits(hit.out, patchedPlain.out, 'patched, from the cache');
  const unpatched = await runOnce(source, { intraOpNumThreads: 1, optimizedCacheDir: dir }, EXTERNAL_FEEDS);
  assert.equal(unpatched.outcome, 'stored', 'the source model has its own entry');
  assertSameBits(unpatched.out, plain.out, 'unpatched');
});

test('a cache folder that cannot be written costs nothing but the cache', async () => {
  const blocker = join(root, 'not-a-folder');
  writeFileSync(blocker, 'x');
  const files = await readOnnxModelFiles(EXTERNAL.modelPath);
  const plain = await runOnce(files, { intraOpNumThreads: 1 }, EXTERNAL_FEEDS);
  const r = await runOnce(files, { intraOpNumThreads: 1, optimizedCacheDir: join(blocker, 'cache') }, EXTERNAL_FEEDS);
  assert.equal(r.outcome, 'failed');
  assertSameBits(r.out, plain.out, 'without a usable cache');
});

test('concurrent first loads store one entry and leave no temporary folder', async () => {
  const dir = freshDir();
  const files = await readOnnxModelFiles(EXTERNAL.modelPath);
  const opts = { intraOpNumThreads: 1, optimizedCacheDir: dir };
  const results = await Promise.all([runOnce(files, opts, EXTERNAL_FEEDS), runOnce(files, opts, EXTERNAL_FEEDS), runOnce(files, opts, EXTERNAL_FEEDS)]);
  for (const r of results) assertSameBits(r.out, results[0].out, 'concurrent');
  assert.ok(results.some((r) => r.outcome === 'stored'));
  const names = entries(dir);
  assert.equal(names.length, 1, `one entry: ${names.join(', ')}`);
  assert.equal((await runOnce(files, opts, EXTERNAL_FEEDS)).outcome, 'hit');
});

test('prune keeps the most recently used entries within the budget and removes stale temporary folders', async () => {
  const dir = freshDir();
  const files = await readOnnxModelFiles(EXTERNAL.modelPath);
  const cache = new OptimizedModelCache(dir);
  const keys: string[] = [];
  for (const transformKey of ['a', 'b', 'c']) {
    const key = optimizedModelKey({ files, runtimeVersion: ONNXRUNTIME_VERSION, graphOptimizationLevel: 'all', deterministic: true, transformKey });
    assert.ok(key);
    const pending = await cache.reserve(key);
    assert.ok(pending);
    writeFileSync(pending.modelPath, Buffer.alloc(1000, 1));
    writeFileSync(join(pending.modelPath, '..', pending.dataFileName), Buffer.alloc(3000, 2));
    assert.equal(await pending.commit('source'), true);
    keys.push(key);
  }
  // Last used: a (oldest), then c, then b (newest).
  const at = (s: number): Date => new Date(Date.now() - s * 1000);
  utimesSync(join(dir, keys[0], 'manifest.json'), at(300), at(300));
  utimesSync(join(dir, keys[2], 'manifest.json'), at(200), at(200));
  utimesSync(join(dir, keys[1], 'manifest.json'), at(100), at(100));
  const stale = join(dir, '.tmp-crashed');
  mkdirSync(stale);
  writeFileSync(join(stale, 'model.onnx'), 'half');
  utimesSync(stale, at(7200), at(7200));
  const fresh = join(dir, '.tmp-in-progress');
  mkdirSync(fresh);
  assert.equal(await cache.lookup('0'.repeat(64)), undefined);

  const entryBytes = (k: string): number => readdirSync(join(dir, k)).reduce((n, f) => n + statSync(join(dir, k, f)).size, 0);
  const budget = entryBytes(keys[1]) + entryBytes(keys[2]);
  const oldest = entryBytes(keys[0]);
  assert.ok(oldest > 4000, 'the entry holds its two files and a manifest');
  const freed = await cache.prune({ maxBytes: budget });
  assert.equal(freed, oldest + 'half'.length, 'bytes deleted: the oldest entry and the stale folder');
  assert.deepEqual(entries(dir), [fresh.split(/[\\/]/).pop(), keys[1], keys[2]].sort(), 'oldest entry and stale temp folder gone');
  assert.ok(await cache.lookup(keys[1]));
  await cache.prune({ maxBytes: 0 });
  assert.deepEqual(entries(dir), ['.tmp-in-progress']);
});
