// Hub references parse strictly (they become cache folder names and URLs), and imgprompt.lock is
// written sorted and stable whatever order the entries came in.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hubRefKey, parseHubRef } from '../../../src/engine/hub/hubRef';
import { formatLockfile, LockfileError, readLockfile, writeLockfile } from '../../../src/engine/hub/lockfile';
import { retryAfterSeconds } from '../../../src/engine/hub/hubHttp';

test('hf: references: repository, revision, file; keys are canonical', () => {
  assert.deepEqual(parseHubRef('hf:stabilityai/sd-turbo'), { kind: 'hf', repo: 'stabilityai/sd-turbo', revision: 'main', pinned: false, path: '', text: 'hf:stabilityai/sd-turbo' });
  const pinned = parseHubRef('hf:org/repo@v1.0/unet/model.onnx');
  assert.ok(!('error' in pinned) && pinned.kind === 'hf');
  assert.equal(pinned.revision, 'v1.0');
  assert.equal(pinned.path, 'unet/model.onnx');
  assert.equal(hubRefKey(pinned), 'hf:org/repo@v1.0/unet/model.onnx');
  assert.equal(hubRefKey(parseHubRef('hf:org/repo/file.safetensors') as never), 'hf:org/repo@main/file.safetensors');
});

test('malformed references are refused with what is wrong', () => {
  for (const [text, why] of [
    ['hf:onlyname', /org\/name/],
    ['hf:org/../x', /not a valid/],
    ['hf:org/repo/../../etc/passwd', /'\.\.'/],
    ['hf:org/repo@../x', /revision/],
    ['hf:org/re po', /not a valid/],
    ['civitai:abc', /digits/],
    ['urn:air:sd1:checkpoint:civitai:12', /AIR/],
  ] as const) {
    const r = parseHubRef(text);
    assert.ok('error' in r, text);
    assert.match(r.error, why, text);
  }
});

test('Civitai version ids and AIRs', () => {
  assert.deepEqual(parseHubRef('civitai:130072'), { kind: 'civitai', versionId: 130072, text: 'civitai:130072' });
  const air = parseHubRef('urn:air:sdxl:checkpoint:civitai:827184@2514310');
  assert.ok(!('error' in air) && air.kind === 'civitai');
  assert.equal(air.modelId, 827184);
  assert.equal(air.versionId, 2514310);
  assert.equal(hubRefKey(air), 'civitai:2514310');
});

test('Retry-After as seconds or an HTTP date', () => {
  assert.equal(retryAfterSeconds('120'), 120);
  assert.equal(retryAfterSeconds('Wed, 21 Oct 2015 07:28:30 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')), 30);
  assert.equal(retryAfterSeconds('soon'), undefined);
});

test('imgprompt.lock is sorted and stable; a malformed one is a LockfileError naming the entry', () => {
  const file = { size: 1, sha256: 'a'.repeat(64) };
  const entry = (commit: string) => ({ source: 'huggingface' as const, repo: 'o/r', revision: 'main', commit, files: { 'z.json': file, 'a.json': file } });
  const one = formatLockfile({ lockfileVersion: 1, models: { 'hf:o/b@main': entry('2'.repeat(40)), 'hf:o/a@main': entry('1'.repeat(40)) } });
  const two = formatLockfile({ lockfileVersion: 1, models: { 'hf:o/a@main': entry('1'.repeat(40)), 'hf:o/b@main': entry('2'.repeat(40)) } });
  assert.equal(one, two);
  assert.ok(one.indexOf('hf:o/a@main') < one.indexOf('hf:o/b@main'));
  assert.ok(one.indexOf('"a.json"') < one.indexOf('"z.json"'));
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-lock-'));
  try {
    assert.equal(writeLockfile(dir, readLockfile(dir)), true);
    assert.equal(writeLockfile(dir, readLockfile(dir)), false, 'unchanged: not rewritten');
    writeFileSync(join(dir, 'imgprompt.lock'), one);
    assert.equal(formatLockfile(readLockfile(dir)), one, 'round trip');
    writeFileSync(join(dir, 'imgprompt.lock'), one.replace('"a.json"', '"../a.json"'));
    assert.throws(() => readLockfile(dir), (e: unknown) => e instanceof LockfileError && /'\.\.\/a\.json' is not a plain relative path/.test(e.message));
    assert.ok(!readFileSync(join(dir, 'imgprompt.lock'), 'utf8').includes(dir));
  } finally {
    rmSync(dir, { recursive: true });
  }
});
