// Civitai against a loopback Civitai: by-hash lookups (SHA256 and AutoV2) with licence from the model's
// permission fields, cached, and no network when not allowed; a version downloaded, verified and locked.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ModelError } from '../../../src/engine/errors';
import { autoV2, lookupCivitaiByHash } from '../../../src/engine/hub/civitai';
import { parseHubRef, type CivitaiRef } from '../../../src/engine/hub/hubRef';
import { pullCivitaiRef } from '../../../src/engine/hub/pullCivitai';
import { FakeCivitai } from '../../fakes/fakeCivitai';
import { sha256Hex } from '../../fakes/fakeHub';

const TOKEN = 'civitai-SECRET-token-123456';
const data = Buffer.alloc(200_000, 7);
const sha = sha256Hex(data);

describe('Civitai', () => {
  const civitai = new FakeCivitai();
  let dir: string;
  before(async () => {
    civitai.add({ modelId: 4201, versionId: 130072, modelName: 'Inked lines', versionName: 'v2', baseModel: 'SD 1.5', trainedWords: ['inked', 'lineart'], fileName: 'inked_v2.safetensors', data, type: 'LORA', requiresAuth: true, allowCommercialUse: ['Image'], allowNoCredit: false });
    await civitai.start();
    dir = mkdtempSync(join(tmpdir(), 'imgprompt-civitai-'));
  });
  after(async () => {
    await civitai.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('AutoV2 is the first ten hex digits of the SHA-256, upper case', () => {
    assert.equal(autoV2('0123456789abcdef'), '0123456789');
  });

  test('by-hash lookup fills base model, trigger words and licence; cached; no network when not allowed', async () => {
    const options = { endpoint: { url: civitai.url, tokenName: 'CIVITAI_TOKEN' }, cacheFile: join(dir, 'by-hash.json'), allowNetwork: false };
    assert.equal(await lookupCivitaiByHash(sha, options), undefined, 'unknown, and the network may not be asked');
    assert.equal(civitai.log.length, 0);
    const found = await lookupCivitaiByHash(sha, { ...options, allowNetwork: true });
    assert.ok(found);
    assert.equal(found.versionId, 130072);
    assert.equal(found.baseModel, 'SD 1.5');
    assert.deepEqual(found.trainedWords, ['inked', 'lineart']);
    assert.equal(found.license, 'Civitai permissions: commercial use: Image; derivatives allowed; credit required; relicensing allowed');
    const asked = civitai.log.length;
    assert.deepEqual(await lookupCivitaiByHash(sha, options), found, 'from the cache, offline');
    assert.equal(civitai.log.length, asked);
    assert.equal(await lookupCivitaiByHash('f'.repeat(64), { ...options, allowNetwork: true }), null, 'a miss');
  });

  test('a version downloads through the redirect, verified; 401 without a token is explained; token only to Civitai', async () => {
    const ref = parseHubRef('urn:air:sd1:lora:civitai:4201@130072') as CivitaiRef;
    const options = { civitaiDir: join(dir, 'civitai'), endpoint: { url: civitai.url, tokenName: 'CIVITAI_TOKEN' }, offline: false };
    await assert.rejects(pullCivitaiRef(ref, options), (e: unknown) => e instanceof ModelError && /401/.test(e.message) && /CIVITAI_TOKEN is not set/.test(e.message));
    const pulled = await pullCivitaiRef(ref, { ...options, endpoint: { ...options.endpoint, token: TOKEN } });
    assert.deepEqual(readFileSync(pulled.path), data);
    assert.ok(pulled.path.endsWith(join('versions', '130072', 'inked_v2.safetensors')));
    assert.deepEqual(pulled.entry, { source: 'civitai', repo: '4201', revision: '130072', commit: '130072', license: 'Civitai permissions: commercial use: Image; derivatives allowed; credit required; relicensing allowed', files: { 'inked_v2.safetensors': { size: data.length, sha256: sha } } });
    assert.ok(civitai.log.filter((r) => r.host === 'cdn').every((r) => !r.authorized));
    const offline = await pullCivitaiRef(parseHubRef('civitai:130072') as CivitaiRef, { ...options, offline: true });
    assert.equal(offline.path, pulled.path);
    await assert.rejects(pullCivitaiRef(parseHubRef('civitai:999') as CivitaiRef, { ...options, offline: true }), /offline and not downloaded/);
  });
});
