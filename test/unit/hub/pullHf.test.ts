// pullHfRef against the loopback hub: the cache layout huggingface_hub writes, resume, verification,
// locking, offline mode, refusals explained, and the token kept to the hub's own origin.
import { strict as assert } from 'node:assert';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ModelError } from '../../../src/engine/errors';
import { pullHfRef, type PullOptions } from '../../../src/engine/hub/pullHf';
import { parseHubRef, type HfRef } from '../../../src/engine/hub/hubRef';
import { FakeHub, fakeCommit, gitBlobSha1, sha256Hex } from '../../fakes/fakeHub';

const TOKEN = 'hf_SECRETsecretSECRET0123456789';
const weights = Buffer.alloc(3 * 1024 * 1024 + 17);
for (let i = 0; i < weights.length; i++) weights[i] = (i * 2654435761) >>> 24;
const config = Buffer.from('{"_class_name": "Tiny"}\n');
const weightsSha = sha256Hex(weights);

function hf(text: string): HfRef {
  const ref = parseHubRef(text);
  assert.ok(!('error' in ref) && ref.kind === 'hf', text);
  return ref;
}

describe('pullHfRef against a loopback hub', () => {
  const hub = new FakeHub();
  const commit = fakeCommit();
  let root: string;
  let cache: string;
  const options = (extra: Partial<PullOptions> = {}): PullOptions => ({ cacheDir: cache, endpoint: { url: hub.hubUrl, tokenName: 'HF_TOKEN', token: TOKEN }, offline: false, ...extra });

  before(async () => {
    hub.addRepo({ repo: 'org/tiny', refs: { main: commit }, commits: { [commit]: [{ path: 'model_index.json', data: config }, { path: 'unet/model.onnx', data: weights }] }, license: 'mit' });
    hub.addRepo({ repo: 'org/gated', refs: { main: commit }, commits: { [commit]: [{ path: 'model.safetensors', data: weights }] }, gated: true, readers: ['hf_reader_token_with_access'] });
    await hub.start();
  });
  after(() => hub.stop());
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'imgprompt-hub-'));
    cache = join(root, 'hub');
    hub.log.length = 0;
    hub.faults = {};
  });

  test('a fresh pull writes the exact huggingface_hub layout: blobs by etag, relative snapshot links, refs/main', async () => {
    const pulled = await pullHfRef(hf('hf:org/tiny'), options());
    const repoDir = join(cache, 'models--org--tiny');
    assert.equal(readFileSync(join(repoDir, 'refs', 'main'), 'utf8'), commit);
    assert.deepEqual(readdirSync(join(repoDir, 'blobs')).sort(), [gitBlobSha1(config), weightsSha].sort());
    const link = join(repoDir, 'snapshots', commit, 'unet', 'model.onnx');
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readlinkSync(link), `../../../blobs/${weightsSha}`);
    assert.equal(readlinkSync(join(repoDir, 'snapshots', commit, 'model_index.json')), `../../blobs/${gitBlobSha1(config)}`);
    assert.deepEqual(readFileSync(link), weights);
    assert.equal(pulled.path, join(repoDir, 'snapshots', commit));
    assert.deepEqual(pulled.entry, {
      source: 'huggingface',
      repo: 'org/tiny',
      revision: 'main',
      commit,
      license: 'mit',
      files: { 'model_index.json': { size: config.length, sha256: sha256Hex(config) }, 'unet/model.onnx': { size: weights.length, sha256: weightsSha } },
    });
    // The LFS file came from the second host, which never saw the token; the hub did.
    assert.equal(hub.requests('cdn', 'GET').length, 1);
    assert.ok(hub.requests('cdn').every((r) => !r.authorized));
    assert.ok(hub.requests('hub').every((r) => r.authorized));
    rmSync(root, { recursive: true });
  });

  test('files already in the cache, laid out by huggingface_hub, are reused without a download', async () => {
    const repoDir = join(cache, 'models--org--tiny');
    mkdirSync(join(repoDir, 'blobs'), { recursive: true });
    mkdirSync(join(repoDir, 'snapshots', commit, 'unet'), { recursive: true });
    mkdirSync(join(repoDir, 'refs'));
    writeFileSync(join(repoDir, 'blobs', weightsSha), weights);
    writeFileSync(join(repoDir, 'blobs', gitBlobSha1(config)), config);
    symlinkSync(`../../../blobs/${weightsSha}`, join(repoDir, 'snapshots', commit, 'unet', 'model.onnx'));
    symlinkSync(`../../blobs/${gitBlobSha1(config)}`, join(repoDir, 'snapshots', commit, 'model_index.json'));
    writeFileSync(join(repoDir, 'refs', 'main'), commit);
    const pulled = await pullHfRef(hf('hf:org/tiny'), options());
    assert.equal(pulled.downloaded, 0);
    assert.equal(hub.requests('cdn').length, 0, 'no byte from the CDN');
    assert.equal(hub.log.filter((r) => r.path.includes('/resolve/')).length, 0, 'no file request at all');
    assert.equal(pulled.entry.files['unet/model.onnx'].sha256, weightsSha);
    rmSync(root, { recursive: true });
  });

  test('an interrupted transfer resumes with Range from where it stopped, in the same pull and from a partial file left behind', async () => {
    hub.faults.cut = { sha256: weightsSha, afterBytes: 1024 * 1024, times: 1 };
    await pullHfRef(hf('hf:org/tiny/unet/model.onnx'), options());
    const gets = hub.requests('cdn', 'GET');
    assert.equal(gets.length, 2);
    assert.equal(gets[0].range, undefined);
    assert.equal(gets[1].range, `bytes=${1024 * 1024}-`);
    assert.deepEqual(readFileSync(join(cache, 'models--org--tiny', 'blobs', weightsSha)), weights);

    // A partial file from an earlier, killed run (huggingface_hub's name for it) is continued.
    rmSync(cache, { recursive: true });
    hub.log.length = 0;
    mkdirSync(join(cache, 'models--org--tiny', 'blobs'), { recursive: true });
    writeFileSync(join(cache, 'models--org--tiny', 'blobs', `${weightsSha}.incomplete`), weights.subarray(0, 777_777));
    const pulled = await pullHfRef(hf('hf:org/tiny/unet/model.onnx'), options());
    assert.equal(hub.requests('cdn', 'GET')[0].range, 'bytes=777777-');
    assert.equal(pulled.downloaded, weights.length - 777_777);
    assert.deepEqual(readFileSync(pulled.path), weights);
    rmSync(root, { recursive: true });
  });

  test('a partial file that is not a prefix of the blob is refused by its hash: deleted, nothing installed', async () => {
    mkdirSync(join(cache, 'models--org--tiny', 'blobs'), { recursive: true });
    const wrong = Buffer.from(weights.subarray(0, 1000));
    wrong[10] ^= 1;
    writeFileSync(join(cache, 'models--org--tiny', 'blobs', `${weightsSha}.incomplete`), wrong);
    await assert.rejects(pullHfRef(hf('hf:org/tiny/unet/model.onnx'), options()), (e: unknown) => e instanceof ModelError && /corrupt/.test(e.message));
    assert.deepEqual(readdirSync(join(cache, 'models--org--tiny', 'blobs')), []);
    rmSync(root, { recursive: true });
  });

  test('a corrupted byte in transit is refused: no blob, no partial file, no snapshot link', async () => {
    hub.faults.corrupt = { sha256: weightsSha, offset: 123_456 };
    await assert.rejects(pullHfRef(hf('hf:org/tiny'), options()), (e: unknown) => e instanceof ModelError && /corrupt/.test(e.message) && e.message.includes(weightsSha) && !e.message.includes(TOKEN));
    const repoDir = join(cache, 'models--org--tiny');
    assert.deepEqual(readdirSync(join(repoDir, 'blobs')), [gitBlobSha1(config)], 'only the verified small file');
    assert.equal(existsSync(join(repoDir, 'snapshots', commit, 'unet', 'model.onnx')), false);
    assert.equal(existsSync(join(repoDir, 'refs', 'main')), false, 'the revision is not recorded as downloaded');
    rmSync(root, { recursive: true });
  });

  test('a single .safetensors file without a card licence is locked with its modelspec.license', async () => {
    const header = Buffer.from(JSON.stringify({ __metadata__: { 'modelspec.license': 'openrail++', 'modelspec.title': 'Tiny' }, w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    const file = Buffer.concat([length, header, Buffer.alloc(4)]);
    const c = fakeCommit();
    hub.addRepo({ repo: 'org/single', refs: { main: c }, commits: { [c]: [{ path: 'tiny.safetensors', data: file }, { path: 'README.md', data: Buffer.from('# no licence here\n') }] } });
    const pulled = await pullHfRef(hf('hf:org/single/tiny.safetensors'), options());
    assert.equal(pulled.entry.license, 'openrail++');
    rmSync(root, { recursive: true });
  });

  test('a hub listing a file name that climbs out of the snapshot is refused before anything is written', async () => {
    const c = fakeCommit();
    hub.addRepo({ repo: 'org/evil', refs: { main: c }, commits: { [c]: [{ path: 'config.json', data: config }, { path: '../../../escape.json', data: config }] } });
    await assert.rejects(pullHfRef(hf('hf:org/evil'), options()), (e: unknown) => e instanceof ModelError && /not a plain relative path/.test(e.message));
    assert.equal(existsSync(join(cache, 'models--org--evil')), false);
    rmSync(root, { recursive: true });
  });

  test('two concurrent pulls of one file download it once and both get it', async () => {
    const notes: string[] = [];
    const [a, b] = await Promise.all([pullHfRef(hf('hf:org/tiny'), options()), pullHfRef(hf('hf:org/tiny'), options({ onNote: (t) => notes.push(t) }))]);
    assert.equal(hub.requests('cdn', 'GET').length, 1);
    assert.equal(a.downloaded + b.downloaded, weights.length + config.length);
    assert.deepEqual(a.entry, b.entry);
    assert.deepEqual(readFileSync(join(b.path, 'unet', 'model.onnx')), weights);
    assert.equal(readdirSync(join(cache, '.locks', 'models--org--tiny')).length, 0, 'locks released');
    rmSync(root, { recursive: true });
  });

  test('offline: what is cached is used with no request; what is not is named', async () => {
    await assert.rejects(pullHfRef(hf('hf:org/tiny'), options({ offline: true })), (e: unknown) => e instanceof ModelError && /HF_HUB_OFFLINE/.test(e.message) && /refs\/main/.test(e.message));
    assert.equal(hub.log.length, 0);
    await pullHfRef(hf('hf:org/tiny'), options());
    hub.log.length = 0;
    const pulled = await pullHfRef(hf('hf:org/tiny/unet/model.onnx'), options({ offline: true }));
    assert.deepEqual(readFileSync(pulled.path), weights);
    assert.equal(hub.log.length, 0, 'no request offline');
    rmSync(root, { recursive: true });
  });

  test('gated repositories: 401 without a token and 403 with one that lacks access, explained, token never echoed', async () => {
    const noToken = options({ endpoint: { url: hub.hubUrl, tokenName: 'HF_TOKEN' } });
    await assert.rejects(pullHfRef(hf('hf:org/gated'), noToken), (e: unknown) => e instanceof ModelError && /401/.test(e.message) && /HF_TOKEN is not set/.test(e.message));
    await assert.rejects(pullHfRef(hf('hf:org/gated'), options()), (e: unknown) => e instanceof ModelError && /403/.test(e.message) && /accept the model's conditions/.test(e.message) && !e.message.includes(TOKEN));
    const reader = options({ endpoint: { url: hub.hubUrl, tokenName: 'HF_TOKEN', token: 'hf_reader_token_with_access' } });
    const pulled = await pullHfRef(hf('hf:org/gated'), reader);
    assert.deepEqual(readFileSync(join(pulled.path, 'model.safetensors')), weights);
    assert.ok(!JSON.stringify(pulled.entry).includes('hf_reader'), 'no token in the lock entry');
    rmSync(root, { recursive: true });
  });

  test('429 is waited out as Retry-After says; a wait beyond the bound is explained', async () => {
    hub.faults.rateLimit = { times: 1, retryAfter: '1' };
    const waits: number[] = [];
    const started = Date.now();
    await pullHfRef(hf('hf:org/tiny/model_index.json'), options());
    assert.ok(Date.now() - started >= 900, 'waited about a second');
    hub.faults.rateLimit = { times: 1, retryAfter: '3600' };
    await assert.rejects(pullHfRef(hf('hf:org/tiny/model_index.json'), options({ onNote: (t) => waits.push(t.length) })), (e: unknown) => e instanceof ModelError && /429/.test(e.message) && /3600 s/.test(e.message));
    rmSync(root, { recursive: true });
  });

  test('a lock entry fetches its commit even after the branch moved; --locked (strict) refuses the move', async () => {
    const old = fakeCommit();
    const moved = fakeCommit();
    const v1 = Buffer.from('{"v": 1}\n');
    hub.addRepo({ repo: 'org/moving', refs: { main: old }, commits: { [old]: [{ path: 'config.json', data: v1 }], [moved]: [{ path: 'config.json', data: Buffer.from('{"v": 2}\n') }] } });
    const first = await pullHfRef(hf('hf:org/moving'), options());
    assert.equal(first.entry.commit, old);
    hub.addRepo({ repo: 'org/moving', refs: { main: moved }, commits: { [old]: [{ path: 'config.json', data: v1 }], [moved]: [{ path: 'config.json', data: Buffer.from('{"v": 2}\n') }] } });
    rmSync(cache, { recursive: true });
    const again = await pullHfRef(hf('hf:org/moving'), options({ locked: first.entry }));
    assert.deepEqual(again.entry, first.entry);
    assert.deepEqual(readFileSync(join(again.path, 'config.json')), v1);
    assert.equal(existsSync(join(cache, 'models--org--moving', 'refs', 'main')), false, 'refs/main is not pointed at the older, locked commit');
    await assert.rejects(pullHfRef(hf('hf:org/moving'), options({ locked: first.entry, strict: true })), (e: unknown) => e instanceof ModelError && /now resolves to/.test(e.message) && e.message.includes(moved));
    assert.equal((await pullHfRef(hf('hf:org/moving'), options())).entry.commit, moved);
    rmSync(root, { recursive: true });
  });
});
