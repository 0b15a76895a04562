import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../../src/engine/errors';
import { FileHashCache, HASH_CACHE_FILE_NAME } from '../../../src/engine/hash/fileHashCache';
import { combineFileHashes, hashModelFolder, listModelFiles } from '../../../src/engine/hash/modelHash';
import { sha256File, sha256Hex } from '../../../src/engine/hash/sha256File';

const root = mkdtempSync(join(tmpdir(), 'imgprompt-hash-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string) => {
  const dir = join(root, `${name}-${counter++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

test('sha256File matches the FIPS 180-2 test vectors and crosses chunk boundaries', async () => {
  const dir = fresh('vectors');
  writeFileSync(join(dir, 'abc'), 'abc');
  writeFileSync(join(dir, 'empty'), '');
  // FIPS 180-2, appendix B.1 ("abc"), and the well-known digest of the empty message.
  assert.equal(await sha256File(join(dir, 'abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(await sha256File(join(dir, 'empty')), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  // Two full 8 MiB chunks and a part (each chunk is hashed while the next one is read).
  const big = Buffer.alloc(2 * (8 << 20) + 12345);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 9)) & 0xff;
  writeFileSync(join(dir, 'big'), big);
  assert.equal(await sha256File(join(dir, 'big')), createHash('sha256').update(big).digest('hex'));
  await assert.rejects(sha256File(join(dir, 'nope')), (e: unknown) => e instanceof InputError && /file not found/.test(e.message) && e.path === join(dir, 'nope'));
  await assert.rejects(sha256File(dir), (e: unknown) => e instanceof InputError && /expected a file, found a folder/.test(e.message));
  const aborted = new AbortController();
  aborted.abort();
  await assert.rejects(sha256File(join(dir, 'big'), aborted.signal), (e: unknown) => e instanceof Error && e.name === 'CancelledError');
  assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('the cache hashes a file once, persists, and notices a changed file', async () => {
  const dir = fresh('cache');
  const cacheDir = join(dir, 'cache');
  const file = join(dir, 'weights.bin');
  writeFileSync(file, 'version 1');
  const first = await FileHashCache.open(cacheDir);
  const h1 = await first.hash(file);
  assert.equal(h1, sha256Hex('version 1'));
  assert.equal(await first.hash(file), h1);
  assert.deepEqual(first.stats, { hits: 1, misses: 1 });
  // Another process (a new cache object) finds it on disk.
  const second = await FileHashCache.open(cacheDir);
  assert.equal(await second.hash(file), h1);
  assert.deepEqual(second.stats, { hits: 1, misses: 0 });
  // Same size, different content and mtime: recomputed.
  writeFileSync(file, 'version 2');
  utimesSync(file, new Date(), new Date(Date.now() + 10_000));
  assert.equal(await second.hash(file), sha256Hex('version 2'));
  assert.deepEqual(second.stats, { hits: 1, misses: 1 });
  const stored = JSON.parse(readFileSync(join(cacheDir, HASH_CACHE_FILE_NAME), 'utf8'));
  assert.equal(stored.version, 1);
  assert.equal(stored.entries[file].sha256, sha256Hex('version 2'));
  assert.deepEqual(readdirSync(cacheDir), [HASH_CACHE_FILE_NAME], 'no temp files left behind');
});

test('a corrupt or foreign cache file is ignored and replaced', async () => {
  for (const junk of ['{"version":1,"entries":{', 'null', '{"version":99,"entries":{}}', '{"version":1,"entries":{"/x":{"size":"big"}}}']) {
    const dir = fresh('corrupt');
    writeFileSync(join(dir, HASH_CACHE_FILE_NAME), junk);
    writeFileSync(join(dir, 'f'), 'x');
    const cache = await FileHashCache.open(dir);
    assert.equal(await cache.hash(join(dir, 'f')), sha256Hex('x'));
    const stored = JSON.parse(readFileSync(join(dir, HASH_CACHE_FILE_NAME), 'utf8'));
    assert.deepEqual(Object.keys(stored.entries), [join(dir, 'f')]);
  }
});

test('saves merge with entries another process wrote', async () => {
  const dir = fresh('merge');
  writeFileSync(join(dir, 'a'), 'a');
  writeFileSync(join(dir, 'b'), 'b');
  const one = await FileHashCache.open(dir);
  const two = await FileHashCache.open(dir);
  await one.hash(join(dir, 'a'));
  await two.hash(join(dir, 'b'));
  const stored = JSON.parse(readFileSync(join(dir, HASH_CACHE_FILE_NAME), 'utf8'));
  assert.deepEqual(Object.keys(stored.entries).sort(), [join(dir, 'a'), join(dir, 'b')]);
});

function makeModel(dir: string): void {
  for (const [path, content] of Object.entries({
    'model_index.json': '{}',
    'unet/model.onnx': 'graph',
    'unet/model.onnx_data': 'weights',
    'text_encoder/model.onnx': 'text',
    'tokenizer/merges.txt': 'merges',
    'loras/style.safetensors': 'lora',
    'controlnet/canny/model.onnx': 'cn',
    'README.md': 'docs',
    '.DS_Store': 'junk',
  })) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}

test('a model hash covers the pixel-affecting files in a fixed order', async () => {
  const dir = fresh('model');
  makeModel(dir);
  assert.deepEqual(await listModelFiles(dir), ['model_index.json', 'text_encoder/model.onnx', 'tokenizer/merges.txt', 'unet/model.onnx', 'unet/model.onnx_data']);
  const cache = await FileHashCache.open();
  const hash = await hashModelFolder(dir, cache);
  const expectedLines = [
    ['model_index.json', '{}'],
    ['text_encoder/model.onnx', 'text'],
    ['tokenizer/merges.txt', 'merges'],
    ['unet/model.onnx', 'graph'],
    ['unet/model.onnx_data', 'weights'],
  ].map(([p, c]) => `${p}\t${sha256Hex(c)}\n`);
  assert.equal(hash.sha256, sha256Hex(expectedLines.join('')));
  assert.equal(hash.mainWeights, 'unet/model.onnx_data');
  assert.equal(hash.shortHash, sha256Hex('weights').slice(0, 10));
  assert.equal(combineFileHashes([...hash.files].reverse()), hash.sha256, 'order-independent');
  // A copy elsewhere hashes the same; a changed byte anywhere changes it; adapters and docs do not.
  const copy = fresh('model-copy');
  makeModel(copy);
  writeFileSync(join(copy, 'README.md'), 'other docs');
  writeFileSync(join(copy, 'loras/style.safetensors'), 'other lora');
  assert.equal((await hashModelFolder(copy, cache)).sha256, hash.sha256);
  writeFileSync(join(copy, 'tokenizer/merges.txt'), 'merges!');
  assert.notEqual((await hashModelFolder(copy, cache)).sha256, hash.sha256);
  await assert.rejects(hashModelFolder(join(dir, 'missing'), cache), /model folder not found/);
});
