// End to end through the CLI: a scene naming hf:... renders on a machine that has never seen the model
// (empty Hugging Face cache, the loopback hub), writes imgprompt.lock, and a second "CI" machine with
// the lock and `render --locked` renders the same bytes; models list/verify/gc on the result.
import { withoutC2paChunk } from '../../../src/engine/provenance/pngC2paChunk';
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../../src/cli/main';
import type { CliIO } from '../../../src/cli/command';
import { FakeHub, fakeCommit } from '../../fakes/fakeHub';
import { folderFiles } from '../../fakes/fakeHubRepos';

const TOKEN = 'hf_e2eSECRETtokenVALUE42';
const repoRoot = join(__dirname, '..', '..', '..');

describe('a scene that names its model hf:... renders anywhere, the same with the lockfile', () => {
  const hub = new FakeHub();
  const commit = fakeCommit();
  let box: string;
  let project: string;
  const said: string[] = [];

  async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIO = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), isTTY: false, cwd: project, env: { IMGPROMPT_THREADS: '1', HF_ENDPOINT: hub.hubUrl, HF_TOKEN: TOKEN, IMGPROMPT_CACHE_DIR: join(box, 'imgprompt-cache'), ...env } };
    const code = await main(args, io, new AbortController().signal);
    said.push(...out, ...err);
    return { code, out: out.join(''), err: err.join('') };
  }

  before(async () => {
    hub.addRepo({ repo: 'imgprompt/tiny-shapes', refs: { main: commit }, commits: { [commit]: folderFiles(join(repoRoot, 'models', 'tiny-shapes')) }, license: 'mit' });
    await hub.start();
    box = mkdtempSync(join(tmpdir(), 'imgprompt-hubrender-'));
    project = join(box, 'project');
    mkdirSync(join(project, '.git'), { recursive: true });
    writeFileSync(join(project, 'fig.imgprompt'), 'model: hf:imgprompt/tiny-shapes\nprompt: a red circle on a white background\nseed: 7\nsteps: 3\n');
  });
  after(async () => {
    await hub.stop();
    rmSync(box, { recursive: true, force: true });
  });

  test('fresh machine: downloads, renders, writes imgprompt.lock; CI with the lock renders the same bytes', async () => {
    const first = await cli(['render', 'fig.imgprompt'], { HF_HUB_CACHE: join(box, 'cache-a') });
    assert.equal(first.code, 0, first.err);
    const png = readFileSync(join(project, 'fig.png'));
    const lock = JSON.parse(readFileSync(join(project, 'imgprompt.lock'), 'utf8'));
    const entry = lock.models['hf:imgprompt/tiny-shapes@main'];
    assert.equal(entry.commit, commit);
    assert.equal(entry.license, 'mit');
    assert.ok(entry.files['unet/model.onnx'].sha256.match(/^[0-9a-f]{64}$/));
    assert.ok(hub.requests('cdn', 'GET').length > 0, 'weights came from the CDN host');

    // CI: another machine (empty cache), the lockfile from git, --locked.
    rmSync(join(project, 'fig.png'));
    hub.log.length = 0;
    const ci = await cli(['render', '--locked', 'fig.imgprompt'], { HF_HUB_CACHE: join(box, 'cache-b') });
    assert.equal(ci.code, 0, ci.err);
    assert.ok(hub.requests('cdn', 'GET').length > 0, 'downloaded afresh');
    // The promise: the same bytes outside the C2PA chunk, whose claim carries fresh random salts per signing.
    assert.deepEqual(withoutC2paChunk(readFileSync(join(project, 'fig.png'))), withoutC2paChunk(png), 'the same bytes outside the C2PA manifest');
    const verified = await cli(['verify', '--locked', 'fig.imgprompt'], { HF_HUB_CACHE: join(box, 'cache-c') });
    assert.equal(verified.code, 0, `verify on a third, empty cache: ${verified.err}`);
    assert.equal(readFileSync(join(project, 'imgprompt.lock'), 'utf8'), `${JSON.stringify(lock, null, 2)}\n`, 'the lock is unchanged');
  });

  test('models list, verify (catching a changed byte) and offline use of the cache', async () => {
    const env = { HF_HUB_CACHE: join(box, 'cache-b') };
    const list = await cli(['models', 'list'], env);
    assert.match(list.out, /hf:imgprompt\/tiny-shapes@main\n {2}commit [0-9a-f]{40}, \d+ files, [\d.]+ MB, licence mit, downloaded/);
    assert.equal((await cli(['models', 'verify'], env)).code, 0);
    const offline = await cli(['render', '--force', '--locked', 'fig.imgprompt'], { ...env, HF_HUB_OFFLINE: '1' });
    assert.equal(offline.code, 0, offline.err);
    const emptyOffline = await cli(['render', '--force', 'fig.imgprompt'], { HF_HUB_CACHE: join(box, 'cache-empty'), HF_HUB_OFFLINE: '1' });
    assert.equal(emptyOffline.code, 1);
    assert.match(emptyOffline.err, /HF_HUB_OFFLINE is set and \d+ locked file\(s\) of commit [0-9a-f]{12} are not in the hub cache/);

    const blobs = join(box, 'cache-b', 'models--imgprompt--tiny-shapes', 'blobs');
    const config = readdirSync(blobs).find((b) => readFileSync(join(blobs, b)).toString('utf8').includes('StableDiffusionPipeline'));
    assert.ok(config);
    writeFileSync(join(blobs, config), readFileSync(join(blobs, config), 'utf8').replace('StableDiffusionPipeline', 'StableDiffusionPipelinf'));
    const bad = await cli(['models', 'verify'], env);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /model_index\.json: sha256 is [0-9a-f]{64}, the lock says/);
  });

  test('--locked refuses a reference the lock does not have; gc deletes only what imgprompt downloaded', async () => {
    writeFileSync(join(project, 'other.imgprompt'), 'model: hf:imgprompt/tiny-shapes@main/unet\nprompt: x\n');
    const refused = await cli(['models', 'pull', '--locked', 'other.imgprompt'], { HF_HUB_CACHE: join(box, 'cache-b') });
    assert.equal(refused.code, 1);
    assert.match(refused.err, /not in imgprompt\.lock/);
    rmSync(join(project, 'other.imgprompt'));

    // Another tool's file in the same cache: never touched by gc.
    const foreign = join(box, 'cache-a', 'models--someone--else', 'blobs');
    mkdirSync(foreign, { recursive: true });
    writeFileSync(join(foreign, 'a'.repeat(64)), 'not ours');
    const env = { HF_HUB_CACHE: join(box, 'cache-a') };
    const kept = await cli(['models', 'gc'], env);
    assert.equal(kept.code, 0);
    assert.doesNotMatch(kept.out, /deleted/, 'everything is still locked');
    writeFileSync(join(project, 'imgprompt.lock'), '{"lockfileVersion": 1, "models": {}}\n');
    const gc = await cli(['models', 'gc'], env);
    assert.equal(gc.code, 0);
    assert.match(gc.out, /deleted .*models--imgprompt--tiny-shapes/);
    assert.deepEqual(readdirSync(join(box, 'cache-a', 'models--imgprompt--tiny-shapes', 'blobs')), []);
    assert.deepEqual(readdirSync(foreign), ['a'.repeat(64)]);
  });

  test('a LoRA named by reference loads from the cache into a render', async () => {
    writeFileSync(join(project, 'lora.imgprompt'), 'model: tiny-shapes\nprompt: outline, a red circle\nseed: 3\nsteps: 2\nloras:\n  - file: hf:imgprompt/tiny-shapes/loras/outline.safetensors\n    weight: 0.8\n');
    const rendered = await cli(['render', 'lora.imgprompt'], { HF_HUB_CACHE: join(box, 'cache-lora') });
    assert.equal(rendered.code, 0, rendered.err);
    assert.match(rendered.out, /LoRA .*outline\.safetensors × 0\.8: \d+ of \d+ modules applied/);
    const lock = JSON.parse(readFileSync(join(project, 'imgprompt.lock'), 'utf8'));
    assert.deepEqual(Object.keys(lock.models['hf:imgprompt/tiny-shapes@main/loras/outline.safetensors'].files), ['loras/outline.safetensors']);
  });

  test('the token appears in no output and no file', () => {
    assert.ok(said.length > 0);
    assert.ok(!said.join('').includes(TOKEN));
    assert.ok(!readFileSync(join(project, 'imgprompt.lock'), 'utf8').includes(TOKEN));
    const record = readFileSync(join(box, 'imgprompt-cache', 'hub-downloads.json'), 'utf8');
    assert.ok(!record.includes(TOKEN));
  });
});
