// The parts that make checkpoint conversion fast must not change a byte of its output: the tiled
// transposes (float32, and float16 widened while transposed) against the plain definition on shapes
// that are not multiples of the tile, the scratch buffers' reuse, and the write-behind external-data
// writer against the synchronous one (same file, same offsets, buffers held until written, errors kept),
// and ranges referenced through a hard link instead of copied (or copied where no link can be made).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScratchFloats, transposed, transposeFloat16Into, transposeInto, transposeUint16Into } from '../../../src/engine/checkpoint/convert/transposeMatrix';
import { ExternalDataWriter } from '../../../src/engine/onnx/externalDataWriter';
import { fromFloat16Bits } from '../../../src/engine/onnx/float16';

const dir = mkdtempSync(join(tmpdir(), 'imgprompt-convert-parts-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('tiled transposes equal the element-by-element definition, float32 and float16 (every bit pattern class)', () => {
  for (const [rows, cols] of [[1, 1], [3, 70], [70, 3], [33, 65], [64, 32], [100, 129], [2, 2], [66, 130], [130, 66], [4, 2]]) {
    const values = Float32Array.from({ length: rows * cols }, (_v, i) => Math.sin(i * 1.7) * 1000);
    const bits = Uint16Array.from({ length: rows * cols }, (_v, i) => (i * 2654435761) >>> 16);
    const out = transposeInto(values, rows, cols, new Float32Array(rows * cols));
    const half = transposeFloat16Into(bits, rows, cols, new Float32Array(rows * cols));
    // Kept float16: even shapes take the 32-bit pair path, odd ones (and unaligned views) the element loop.
    const kept = transposeUint16Into(bits, rows, cols, new Uint16Array(rows * cols));
    const unaligned = new Uint16Array(rows * cols + 1);
    transposeUint16Into(bits, rows, cols, unaligned.subarray(1));
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        assert.equal(out[c * rows + r], values[r * cols + c]);
        assert.equal(kept[c * rows + r], bits[r * cols + c], `float16 kept [${r}, ${c}]`);
        assert.equal(unaligned[1 + c * rows + r], bits[r * cols + c], `unaligned [${r}, ${c}]`);
        assert.ok(Object.is(half[c * rows + r], Math.fround(fromFloat16Bits(bits[r * cols + c]))) || (Number.isNaN(half[c * rows + r]) && Number.isNaN(fromFloat16Bits(bits[r * cols + c]))), `[${r}, ${c}]`);
      }
    }
    assert.deepEqual(transposed(values, rows, cols), out);
  }
  assert.throws(() => transposeInto(new Float32Array(6), 2, 4, new Float32Array(8)), RangeError);
});

test('the write-behind writer writes the same file as the synchronous one, and holds a buffer until it is written', async () => {
  const tensors = [100, 4096, 3, 70_000, 1].map((n, k) => Uint8Array.from({ length: n }, (_v, i) => (i * 31 + k) & 0xff));
  const sync = new ExternalDataWriter(join(dir, 'sync.bin'), 'sync.bin');
  const behind = new ExternalDataWriter(join(dir, 'behind.bin'), 'behind.bin', { writeBehind: true });
  const offsets = tensors.map((t) => [sync.append(t), behind.append(t)]);
  for (const [a, b] of offsets) assert.deepEqual(a, b);
  assert.ok(offsets.every(([a]) => a.offset % 64 === 0));
  sync.close();
  await behind.whenWritten(tensors[3].buffer);
  await behind.drain(0);
  await behind.finish();
  assert.deepEqual(readFileSync(join(dir, 'behind.bin')), readFileSync(join(dir, 'sync.bin')));
  assert.equal(readFileSync(join(dir, 'behind.bin')).length, behind.size);
});

test('scratch buffers alternate and wait for the writer before being handed out again', async () => {
  const scratch = new ScratchFloats();
  const released: ArrayBufferLike[] = [];
  const g = { released: async (v: ArrayBufferView) => void released.push(v.buffer) };
  const a = await scratch.take(10, g);
  const b = await scratch.take(10, g);
  assert.notEqual(a.buffer, b.buffer, 'two buffers in turn');
  const c = await scratch.take(5, g);
  assert.equal(c.buffer, a.buffer, 'the first again, once released');
  assert.equal(c.length, 5);
  assert.equal(released.length, 3);
});

// /dev/full fails every write with ENOSPC (a full disk), where the system has it.
test('a failed background write (disk full) is reported by drain and finish, naming the file', { skip: existsSync('/dev/full') ? false : 'no /dev/full here' }, async () => {
  const w = new ExternalDataWriter('/dev/full', 'model.onnx_data', { writeBehind: true });
  w.append(new Uint8Array(4096));
  await assert.rejects(w.drain(0), (e: unknown) => e instanceof Error && /writing \/dev\/full failed/.test(e.message));
  assert.throws(() => w.append(new Uint8Array(10)), /writing \/dev\/full failed/);
  await assert.rejects(w.finish(), /writing \/dev\/full failed/);
});

test('a range copied from another file lands as appended bytes would: same file from the synchronous and the background writer, the source\'s end reported', async () => {
  const source = join(dir, 'source.bin');
  // Larger than one 16 MiB copy chunk, so a range crosses chunks.
  const bytes = Uint8Array.from({ length: 17 * 1024 * 1024 + 333 }, (_v, i) => (i * 131 + (i >> 11)) & 0xff);
  writeFileSync(source, bytes);
  const ranges = [
    { position: 5, length: 100 },
    { position: 1000, length: bytes.length - 2000 },
    { position: 7, length: 3 },
  ];
  const expected = new ExternalDataWriter(join(dir, 'expected.bin'), 'expected.bin');
  const sync = new ExternalDataWriter(join(dir, 'range-sync.bin'), 'range-sync.bin');
  const behind = new ExternalDataWriter(join(dir, 'range-behind.bin'), 'range-behind.bin', { writeBehind: true });
  for (const [k, r] of ranges.entries()) {
    const a = expected.append(bytes.subarray(r.position, r.position + r.length));
    assert.deepEqual(sync.appendRange({ path: source, ...r }), { location: 'range-sync.bin', ...a });
    assert.deepEqual(behind.appendRange({ path: source, ...r }), { location: 'range-behind.bin', ...a });
    // Interleaved with ordinary appends.
    const small = Uint8Array.of(k, k, k);
    assert.deepEqual(sync.append(small), expected.append(small));
    behind.append(small);
  }
  expected.close();
  sync.close();
  await behind.finish();
  assert.deepEqual(readFileSync(join(dir, 'range-sync.bin')), readFileSync(join(dir, 'expected.bin')));
  assert.deepEqual(readFileSync(join(dir, 'range-behind.bin')), readFileSync(join(dir, 'expected.bin')));

  // A source cut short (changed while converting): both writers fail, naming it.
  truncateSync(source, 4096);
  const short = new ExternalDataWriter(join(dir, 'short-sync.bin'), 'short-sync.bin');
  assert.throws(() => short.appendRange({ path: source, position: 1000, length: 10_000 }), /source\.bin ended .* truncated or changed/);
  short.close();
  const shortBehind = new ExternalDataWriter(join(dir, 'short-behind.bin'), 'short-behind.bin', { writeBehind: true });
  shortBehind.appendRange({ path: source, position: 1000, length: 10_000 });
  await assert.rejects(shortBehind.finish(), /writing .*short-behind\.bin failed: .*source\.bin ended/);
});

test('linkSources: ranges are referenced in a hard link to the source (same inode, nothing copied); odd positions and failed links are copied', async () => {
  const source = join(dir, 'linked-source.safetensors');
  const bytes = Uint8Array.from({ length: 3 * 1024 * 1024 + 17 }, (_v, i) => (i * 97 + (i >> 9)) & 0xff);
  writeFileSync(source, bytes);
  const out = join(dir, 'linked');
  mkdirSync(out);
  const w = new ExternalDataWriter(join(out, 'model.onnx_data'), 'model.onnx_data', { writeBehind: true, linkSources: true });
  const a = w.appendRange({ path: source, position: 64, length: 2 * 1024 * 1024 });
  const b = w.appendRange({ path: source, position: 2 * 1024 * 1024 + 100, length: 4096 });
  assert.deepEqual(a, { location: 'checkpoint.safetensors', offset: 64, length: 2 * 1024 * 1024 });
  assert.deepEqual(b, { location: 'checkpoint.safetensors', offset: 2 * 1024 * 1024 + 100, length: 4096 });
  // An odd start (float16 wants 2-byte alignment) is copied into the writer's own file.
  const odd = w.appendRange({ path: source, position: 101, length: 2000 });
  assert.deepEqual(odd, { location: 'model.onnx_data', offset: 0, length: 2000 });
  await w.finish();
  const link = statSync(join(out, 'checkpoint.safetensors'));
  assert.equal(link.ino, statSync(source).ino, 'the link is the source file itself');
  assert.equal(link.nlink, 2);
  assert.equal(statSync(join(out, 'model.onnx_data')).size, 2000, 'only the odd range was written');
  assert.deepEqual(readFileSync(join(out, 'model.onnx_data')), Buffer.from(bytes.subarray(101, 2101)));
  assert.deepEqual(w.linkedSources(), [{ location: 'checkpoint.safetensors', source, ino: link.ino, size: link.size, mtimeMs: link.mtimeMs }]);

  // Linking fails (another filesystem): every range is copied, as without linkSources.
  const failed = join(dir, 'unlinked');
  mkdirSync(failed);
  const tried: string[] = [];
  const link2 = (_from: string, to: string) => {
    tried.push(to);
    throw Object.assign(new Error('EXDEV: cross-device link not permitted'), { code: 'EXDEV' });
  };
  const c = new ExternalDataWriter(join(failed, 'model.onnx_data'), 'model.onnx_data', { linkSources: true, link: link2 });
  assert.deepEqual(c.appendRange({ path: source, position: 64, length: 4096 }), { location: 'model.onnx_data', offset: 0, length: 4096 });
  assert.deepEqual(c.appendRange({ path: source, position: 8192, length: 100 }), { location: 'model.onnx_data', offset: 4096, length: 100 });
  c.close();
  assert.equal(tried.length, 1, 'a failed link is not tried again for every tensor');
  assert.deepEqual(c.linkedSources(), []);
  assert.ok(!existsSync(join(failed, 'checkpoint.safetensors')));
  assert.deepEqual(readFileSync(join(failed, 'model.onnx_data')).subarray(0, 4096), Buffer.from(bytes.subarray(64, 64 + 4096)));
});
