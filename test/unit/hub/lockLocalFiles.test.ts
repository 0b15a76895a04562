// The project's own model/LoRA files in imgprompt.lock: a render locks a local LoRA by its project-relative
// path with its size and sha256 and what Civitai's by-hash lookup (loopback Civitai) says of the bytes;
// with lookups off only Civitai's cache answers; `models verify` and `render --locked` catch a changed
// file, and `models pull` re-locks it.
import { strict as assert } from 'node:assert';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../../src/cli/main';
import type { CliIO } from '../../../src/cli/command';
import { lookupCivitaiByHash } from '../../../src/engine/hub/civitai';
import { formatLockfile, readLockfile, LockfileError } from '../../../src/engine/hub/lockfile';
import { lockLocalFiles } from '../../../src/engine/hub/lockLocalFiles';
import { sceneLocalFiles } from '../../../src/engine/scene/sceneHubRefs';
import { FakeCivitai } from '../../fakes/fakeCivitai';
import { sha256Hex } from '../../fakes/fakeHub';

const repoRoot = join(__dirname, '..', '..', '..');
const LORA = join(repoRoot, 'models', 'tiny-shapes', 'loras', 'outline.safetensors');
const SCENE = 'model: tiny-shapes\nprompt: outline, a red circle\nseed: 3\nsteps: 2\nloras:\n  - file: loras/outline.safetensors\n    weight: 0.8\n';

describe('local files in imgprompt.lock, with what Civitai knows of them', () => {
  const civitai = new FakeCivitai();
  const data = readFileSync(LORA);
  let box: string;
  let project: string;

  async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIO = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), isTTY: false, cwd: project, env: { IMGPROMPT_THREADS: '1', IMGPROMPT_CIVITAI_URL: civitai.url, IMGPROMPT_CACHE_DIR: join(box, 'imgprompt-cache'), HF_HUB_CACHE: join(box, 'hf'), ...env } };
    const code = await main(args, io, new AbortController().signal);
    return { code, out: out.join(''), err: err.join('') };
  }

  before(async () => {
    civitai.add({ modelId: 77, versionId: 7001, modelName: 'Outline', versionName: 'v1', baseModel: 'SD 1.5', trainedWords: ['outline'], fileName: 'outline.safetensors', data, type: 'LORA', allowCommercialUse: ['Image'], allowNoCredit: true });
    await civitai.start();
    box = mkdtempSync(join(tmpdir(), 'imgprompt-locklocal-'));
    project = join(box, 'project');
    mkdirSync(join(project, '.git'), { recursive: true });
    mkdirSync(join(project, 'loras'));
    copyFileSync(LORA, join(project, 'loras', 'outline.safetensors'));
    writeFileSync(join(project, 'fig.imgprompt'), SCENE);
  });
  after(async () => {
    await civitai.stop();
    rmSync(box, { recursive: true, force: true });
  });

  test('lookups off and nothing cached: locked by size and sha256 only, Civitai not asked', async () => {
    const r = await cli(['render', 'fig.imgprompt'], { IMGPROMPT_CIVITAI_LOOKUP: '0' });
    assert.equal(r.code, 0, r.err);
    assert.equal(civitai.log.length, 0);
    const lock = readLockfile(project);
    assert.deepEqual(lock.local, { 'loras/outline.safetensors': { size: data.length, sha256: sha256Hex(data) } });
  });

  test('a render with lookups allowed adds base model, licence and the version; the text is commit-friendly', async () => {
    const r = await cli(['render', '--force', 'fig.imgprompt']);
    assert.equal(r.code, 0, r.err);
    assert.ok(civitai.log.some((q) => q.path.includes('/by-hash/')), 'asked by hash');
    const known = await lookupCivitaiByHash(sha256Hex(data), { endpoint: { url: civitai.url, tokenName: 'CIVITAI_TOKEN' }, cacheFile: join(box, 'imgprompt-cache', 'civitai', 'by-hash.json'), allowNetwork: false });
    assert.ok(known?.license);
    const text = readFileSync(join(project, 'imgprompt.lock'), 'utf8');
    const lock = JSON.parse(text);
    assert.deepEqual(lock.local['loras/outline.safetensors'], { size: data.length, sha256: sha256Hex(data), license: known.license, baseModel: 'SD 1.5', civitai: 'urn:air:sd1:lora:civitai:77@7001' });
    assert.equal(text, formatLockfile(readLockfile(project)), 'stable: re-formatting gives the same text');
    assert.ok(!text.includes(box), 'no absolute path');
    const list = await cli(['models', 'list']);
    assert.match(list.out, /loras\/outline\.safetensors \(project file\)\n {2}[\d.]+ kB, sha256 [0-9a-f]{12}, licence .+, urn:air:sd1:lora:civitai:77@7001 \(SD 1\.5\)\n/);
  });

  test('with lookups off, the cached answer still fills a new entry', async () => {
    rmSync(join(project, 'imgprompt.lock'));
    civitai.log.length = 0;
    const r = await cli(['render', '--force', 'fig.imgprompt'], { IMGPROMPT_CIVITAI_LOOKUP: '0' });
    assert.equal(r.code, 0, r.err);
    assert.equal(civitai.log.length, 0, 'the cache answered');
    assert.equal(readLockfile(project).local?.['loras/outline.safetensors'].civitai, 'urn:air:sd1:lora:civitai:77@7001');
  });

  test('verify and --locked catch a changed file; models pull re-locks it', async () => {
    assert.equal((await cli(['models', 'verify'])).code, 0);
    appendFileSync(join(project, 'loras', 'outline.safetensors'), Buffer.from([0]));
    const bad = await cli(['models', 'verify']);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /local: loras\/outline\.safetensors: has \d+ bytes, the lock says \d+/);
    const locked = await cli(['render', '--locked', '--force', 'fig.imgprompt']);
    assert.equal(locked.code, 1);
    assert.match(locked.err, /loras\/outline\.safetensors has \d+ bytes, the lock says \d+ \(--locked/);
    const pulled = await cli(['models', 'pull', 'fig.imgprompt'], { IMGPROMPT_CIVITAI_LOOKUP: '0' });
    assert.equal(pulled.code, 0, pulled.err);
    const entry = readLockfile(project).local?.['loras/outline.safetensors'];
    assert.equal(entry?.size, data.length + 1);
    assert.equal(entry?.civitai, undefined, 'Civitai knows nothing of the new bytes');
    assert.equal((await cli(['models', 'verify'])).code, 0);
  });

  test('a lock entry with a path that leaves the project is refused', () => {
    writeFileSync(join(project, 'imgprompt.lock'), JSON.stringify({ lockfileVersion: 1, models: {}, local: { '../x.safetensors': { size: 1, sha256: 'a'.repeat(64) } } }));
    assert.throws(() => readLockfile(project), (e: unknown) => e instanceof LockfileError && /not a path relative to the project/.test(e.message));
  });
});

describe('which project files a scene locks', () => {
  let box: string;
  let project: string;
  before(() => {
    box = mkdtempSync(join(tmpdir(), 'imgprompt-localfiles-'));
    project = join(box, 'project');
    mkdirSync(join(project, 'controlnets', 'canny', 'nested'), { recursive: true });
    mkdirSync(join(project, 'figures', 'emb'), { recursive: true });
    for (const f of ['model.onnx', 'model.onnx_data', 'config.json']) writeFileSync(join(project, 'controlnets', 'canny', f), f);
    writeFileSync(join(box, 'outside.onnx'), 'outside');
    symlinkSync(join(box, 'outside.onnx'), join(project, 'controlnets', 'canny', 'linked.onnx'));
    writeFileSync(join(project, 'figures', 'emb', 'star.safetensors'), 'star');
  });
  after(() => rmSync(box, { recursive: true, force: true }));

  test("a ControlNet folder's files (not its links or subfolders) and embeddings named by path, inside the project only", async () => {
    const scene = join(project, 'figures', 'fig.imgprompt');
    const text = [
      'model: tiny-shapes',
      'prompt: "embedding:emb/star a circle, embedding:loose-name, embedding:hf:org/repo/e.safetensors"',
      'negative: embedding:../../outside',
      'control:',
      '  - {type: canny, image: a.png, model: ../controlnets/canny}',
      '  - {type: depth, image: a.png, model: hf:org/controlnet}',
      '  - {type: scribble, image: a.png, model: ../../elsewhere}',
      '',
    ].join('\n');
    const rel = sceneLocalFiles(scene, text, project).map((p) => relative(project, p).split(sep).join('/'));
    assert.deepEqual(rel, ['figures/emb/star.safetensors', 'controlnets/canny/config.json', 'controlnets/canny/model.onnx', 'controlnets/canny/model.onnx_data']);
    await lockLocalFiles(project, sceneLocalFiles(scene, text, project));
    const local = readLockfile(project).local ?? {};
    assert.deepEqual(Object.keys(local), ['controlnets/canny/config.json', 'controlnets/canny/model.onnx', 'controlnets/canny/model.onnx_data', 'figures/emb/star.safetensors']);
    assert.equal(local['controlnets/canny/model.onnx'].sha256, sha256Hex(Buffer.from('model.onnx')));
  });
});
