// The engine's safetensors reader against well-formed files, known float16 / bfloat16 bit patterns, and
// hostile files: every truncation, random bit flips, absurd lengths, offsets outside the data, overlaps
// and unknown dtypes must end in an InputError naming the file, quickly and without large allocations.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../../src/engine/errors';
import { readSafetensors, SafetensorsError, type SafetensorsFault } from '../../../src/engine/lora/safetensors';
import { safetensorsBytes, tempDir, values, writeSafetensors } from './loraFixtures';

const { dir, cleanup } = tempDir('imgprompt-safetensors-engine-');
after(cleanup);

/** A file with a raw header JSON (padded to 8 bytes) and `data`. */
function rawFile(name: string, header: unknown, data: Buffer = Buffer.alloc(0)): string {
  let json = typeof header === 'string' ? header : JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([length, Buffer.from(json), data]));
  return path;
}

async function rejects(path: string, fault: SafetensorsFault, message: RegExp, options = {}): Promise<void> {
  await assert.rejects(readSafetensors(path, options), (error: unknown) => {
    assert.ok(error instanceof SafetensorsError, `expected SafetensorsError, got ${String(error)}`);
    assert.ok(error instanceof InputError);
    assert.equal(error.fault, fault, error.message);
    assert.ok(error.message.startsWith(`${path}: `), 'the message names the file');
    assert.match(error.reason, message);
    return true;
  });
}

const small = [
  { name: 'a.lora_down.weight', dtype: 'F32' as const, shape: [2, 3], values: values(6, 1) },
  { name: 'a.lora_up.weight', dtype: 'F16' as const, shape: [3, 2], values: [0.5, -1, 2, 0.25, 0, -0.125] },
  { name: 'a.alpha', dtype: 'BF16' as const, shape: [], values: [4] },
];

describe('readSafetensors', () => {
  test('reads metadata, shapes and values; tensor data lazily', async () => {
    const path = writeSafetensors(dir, 'ok.safetensors', small, { ss_network_dim: '2', note: 'x' });
    const file = await readSafetensors(path);
    assert.deepEqual({ ...file.metadata }, { ss_network_dim: '2', note: 'x' });
    assert.deepEqual([...file.tensors.keys()], ['a.lora_down.weight', 'a.lora_up.weight', 'a.alpha']);
    assert.deepEqual(file.tensors.get('a.lora_up.weight')!.shape, [3, 2]);
    assert.deepEqual(file.tensors.get('a.alpha')!.dataOffsets, [36, 38]);
    assert.deepEqual(await file.tensor('a.lora_down.weight'), values(6, 1));
    assert.deepEqual([...(await file.tensor('a.lora_up.weight'))], [0.5, -1, 2, 0.25, 0, -0.125]);
    assert.deepEqual([...(await file.tensor('a.alpha'))], [4]);
    await assert.rejects(file.tensor('nope'), (e: unknown) => e instanceof InputError && /no tensor 'nope'/.test(e.message));
  });

  test('a held handle serves every read until closed; float16 bits read into a caller\'s buffer; stored ranges point at the bytes', async () => {
    const path = writeSafetensors(dir, 'held.safetensors', small);
    const file = await readSafetensors(path);
    const close = file.keepOpen();
    assert.deepEqual(await file.tensor('a.lora_down.weight'), values(6, 1));
    const into = new Uint16Array(10).fill(0xffff);
    const bits = await file.float16Bits('a.lora_up.weight', undefined, into);
    assert.equal(bits?.buffer, into.buffer, 'read into the given buffer');
    assert.deepEqual([...(bits ?? [])], [0x3800, 0xbc00, 0x4000, 0x3400, 0, 0xb000]);
    assert.equal(into[6], 0xffff, 'nothing past the tensor is touched');
    assert.equal(await file.float16Bits('a.lora_down.weight'), undefined, 'F32 has no float16 bits');
    const range = file.storedRange('a.lora_up.weight');
    assert.equal(range.dtype, 'F16');
    assert.deepEqual(new Uint16Array(Uint8Array.from(readFileSync(path).subarray(range.position, range.position + range.length)).buffer), bits);
    await close();
    // Closed: reads open the file for themselves again.
    assert.deepEqual([...(await file.tensor('a.alpha'))], [4]);
  });

  test('float16 and bfloat16 decode known bit patterns exactly', async () => {
    const f16 = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x8000, 0x3555, 0x7c00, 0xfc00];
    const f16Values = [1, -2, 65504, 2 ** -24, 2 ** -14, -0, 0.333251953125, Infinity, -Infinity];
    const b16 = [0x3f80, 0xc040, 0x4049, 0x0001, 0x7f7f, 0x7f80, 0x8000];
    const b16Values = [1, -3, 3.140625, 2 ** -133, 3.3895313892515355e38, Infinity, -0];
    const data = Buffer.alloc((f16.length + b16.length + 1) * 2);
    [...f16, ...b16].forEach((bits, i) => data.writeUInt16LE(bits, i * 2));
    data.writeUInt16LE(0x7e00, (f16.length + b16.length) * 2); // float16 NaN
    const path = rawFile('bits.safetensors', {
      h: { dtype: 'F16', shape: [f16.length], data_offsets: [0, f16.length * 2] },
      b: { dtype: 'BF16', shape: [b16.length], data_offsets: [f16.length * 2, (f16.length + b16.length) * 2] },
      n: { dtype: 'F16', shape: [1], data_offsets: [(f16.length + b16.length) * 2, data.length] },
    }, data);
    const file = await readSafetensors(path);
    assert.deepEqual([...(await file.tensor('h'))], f16Values);
    assert.deepEqual([...(await file.tensor('b'))], b16Values.map((v) => Math.fround(v)));
    assert.ok(Number.isNaN((await file.tensor('n'))[0]));
  });

  test('malformed headers name the file and the fault', async () => {
    const d16 = Buffer.alloc(16);
    await rejects(join(dir, 'missing.safetensors'), 'missing', /^the file does not exist$/);
    await rejects(dir, 'unreadable', /found a folder/);
    writeFileSync(join(dir, 'short.safetensors'), Buffer.from([1, 2, 3]));
    await rejects(join(dir, 'short.safetensors'), 'too-short', /has 3 bytes, fewer than the 8-byte header/);
    await rejects(rawFile('json.safetensors', '{"a": '), 'json', /not valid JSON/);
    await rejects(rawFile('array.safetensors', '[1, 2]'), 'json', /not a JSON object/);
    const notUtf8 = rawFile('utf8.safetensors', '{"a":1}');
    const bytes = Buffer.from(await import('node:fs').then((fs) => fs.readFileSync(notUtf8)));
    bytes[10] = 0xff;
    writeFileSync(notUtf8, bytes);
    await rejects(notUtf8, 'json', /not valid JSON/);
    await rejects(rawFile('entry.safetensors', { t: 5 }), 'entry', /tensor 't' is not a JSON object/);
    await rejects(rawFile('meta.safetensors', { __metadata__: ['x'] }), 'entry', /__metadata__ is not a JSON object/);
    await rejects(rawFile('nodtype.safetensors', { t: { shape: [1], data_offsets: [0, 4] } }, d16), 'entry', /tensor 't' has no dtype/);
    await rejects(rawFile('q4.safetensors', { t: { dtype: 'Q4', shape: [1], data_offsets: [0, 4] } }, d16), 'dtype', /tensor 't' has dtype 'Q4', which is not a safetensors dtype/);
    await rejects(rawFile('i8.safetensors', { t: { dtype: 'I8', shape: [4], data_offsets: [0, 4] } }, d16), 'dtype', /tensor 't' has dtype I8; only F32, F16 and BF16/);
    await rejects(rawFile('neg.safetensors', { t: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, d16), 'shape', /tensor 't' has no valid shape/);
    await rejects(rawFile('frac.safetensors', { t: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, d16), 'shape', /no valid shape/);
    await rejects(rawFile('big.safetensors', { t: { dtype: 'F32', shape: [2 ** 52, 2 ** 52], data_offsets: [0, 16] } }, d16), 'shape', /needs more than 16/);
    await rejects(rawFile('len.safetensors', { t: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, d16), 'shape', /holds 16 bytes but its shape \[3\] of F32 needs 12/);
    await rejects(rawFile('outside.safetensors', { t: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }, d16), 'offsets', /\[0, 32\] outside the data section \(16 bytes\)/);
    await rejects(rawFile('reversed.safetensors', { t: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, d16), 'offsets', /no valid data_offsets/);
    await rejects(rawFile('huge-offset.safetensors', { t: { dtype: 'F32', shape: [1], data_offsets: [0, 1e300] } }, d16), 'offsets', /no valid data_offsets/);
    await rejects(
      rawFile('overlap.safetensors', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, d16),
      'overlap',
      /tensors 'a' and 'b' overlap/,
    );
    // Only I8 is refused by default; a describer can accept every defined dtype.
    const i8 = await readSafetensors(join(dir, 'i8.safetensors'), { anyDtype: true });
    assert.equal(i8.tensors.get('t')!.dtype, 'I8');
    await assert.rejects(i8.tensor('t'), (e: unknown) => e instanceof SafetensorsError && e.fault === 'dtype');
  });

  test('header lengths beyond the file or the limit are refused without reading them', async () => {
    for (const claimed of [2n ** 64n - 1n, 2n ** 53n, 99n * 1024n * 1024n, 17n]) {
      const path = join(dir, `len-${claimed}.safetensors`);
      const prefix = Buffer.alloc(8);
      prefix.writeBigUInt64LE(claimed);
      writeFileSync(path, Buffer.concat([prefix, Buffer.from('{}      ')]));
      const before = process.memoryUsage().arrayBuffers;
      await rejects(path, 'header-length', new RegExp(`^the header length ${claimed} is larger than the file \\(16 bytes\\)`));
      assert.ok(process.memoryUsage().arrayBuffers - before < 1024 * 1024, 'nothing large was allocated');
    }
    const path = rawFile('long-header.safetensors', { __metadata__: { note: 'x'.repeat(200) } });
    await rejects(path, 'header-limit', /more than the limit of 64$/, { maxHeaderBytes: 64 });
    assert.equal((await readSafetensors(path)).metadata.note.length, 200);
  });

  test('a file truncated after opening is reported when its tensors are read', async () => {
    const path = writeSafetensors(dir, 'shrinks.safetensors', small);
    const file = await readSafetensors(path);
    writeFileSync(path, safetensorsBytes(small).subarray(0, file.dataStart + 10));
    await assert.rejects(file.tensor('a.alpha'), (e: unknown) => e instanceof SafetensorsError && e.fault === 'changed' && e.message.startsWith(path));
  });

  test('fuzz: truncations and bit flips end in InputError or a valid read, never anything else', { timeout: 60_000 }, async () => {
    const good = safetensorsBytes(small, { k: 'v' });
    const path = join(dir, 'fuzz.safetensors');
    const outcomes = { rejected: 0, accepted: 0 };
    async function attempt(bytes: Buffer, label: string): Promise<void> {
      writeFileSync(path, bytes);
      try {
        const file = await readSafetensors(path, { maxHeaderBytes: 4096 });
        for (const name of file.tensors.keys()) await file.tensor(name);
        outcomes.accepted++;
      } catch (error) {
        assert.ok(error instanceof InputError, `${label}: ${String(error)}`);
        assert.ok(error.message.includes(path), `${label}: the message names the file`);
        outcomes.rejected++;
      }
    }
    for (let length = 0; length < good.length; length++) {
      await attempt(good.subarray(0, length), `truncated to ${length}`);
      assert.equal(outcomes.accepted, 0, `a file truncated to ${length} of ${good.length} bytes was accepted`);
    }
    let seed = 12345;
    for (let trial = 0; trial < 400; trial++) {
      const bytes = Buffer.from(good);
      const flips = 1 + (trial % 4);
      for (let f = 0; f < flips; f++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        // Half the flips land in the 8-byte length prefix or the header, where the parsing is.
        const at = trial % 2 === 0 ? seed % Math.min(good.length, 64) : seed % good.length;
        bytes[at] ^= 1 << (seed >>> 29);
      }
      await attempt(bytes, `trial ${trial}`);
    }
    assert.ok(outcomes.rejected > 400, `most mutations are rejected (${JSON.stringify(outcomes)})`);
  });
});
