// Textual-inversion embeddings and ControlNets named by reference, like models and LoRAs: a scene using
// `embedding:hf:org/name/file.safetensors` in its prompt and `control[].model: hf:org/name/folder` is an
// error per keystroke until they are cached (never a download there), pulled by a render, pinned in
// imgprompt.lock, and recorded in the PNG by reference (no path of this machine).
import { strict as assert } from 'node:assert';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../../src/cli/main';
import type { CliIO } from '../../../src/cli/command';
import { readPngTextFromBytes } from '../../../src/engine/output/pngText';
import { withoutC2paChunk } from '../../../src/engine/provenance/pngC2paChunk';
import { checkScene } from '../../../src/engine/scene/checkScene';
import { analyzeScene } from '../../../src/engine/scene/resolveScene';
import { projectHubLookup, sceneHubRefs } from '../../../src/engine/scene/sceneHubRefs';
import { explicitEmbeddingRefs, explicitEmbeddingSpans } from '../../../src/engine/prompt/embeddingNames';
import { FakeHub, fakeCommit } from '../../fakes/fakeHub';
import { folderFiles } from '../../fakes/fakeHubRepos';
import { safetensorsBytes } from '../lora/loraFixtures';

const repoRoot = join(__dirname, '..', '..', '..');
const EMBEDDING = 'hf:imgprompt/tiny-embeddings/red-ish.safetensors';
const CONTROLNET = 'hf:imgprompt/tiny-controlnet/canny';
const SCENE = `model: tiny-shapes\nprompt: a embedding:${EMBEDDING} circle\nseed: 5\nsteps: 2\ncontrol:\n  - type: canny\n    image: hint.png\n    model: ${CONTROLNET}\n`;

describe('embeddings and ControlNets named by reference', () => {
  const hub = new FakeHub();
  let box: string;
  let project: string;

  async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIO = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), isTTY: false, cwd: project, env: { IMGPROMPT_THREADS: '1', HF_ENDPOINT: hub.hubUrl, IMGPROMPT_CACHE_DIR: join(box, 'imgprompt-cache'), ...env } };
    const code = await main(args, io, new AbortController().signal);
    return { code, out: out.join(''), err: err.join('') };
  }

  before(async () => {
    // An embedding of two vectors for the tiny text encoder (hidden size 128).
    const values = Array.from({ length: 2 * 128 }, (_, i) => Math.sin(i) * 0.05);
    const embedding = safetensorsBytes([{ name: 'emb_params', dtype: 'F32', shape: [2, 128], values }]);
    const emb = fakeCommit();
    hub.addRepo({ repo: 'imgprompt/tiny-embeddings', refs: { main: emb }, commits: { [emb]: [{ path: 'red-ish.safetensors', data: embedding }] }, license: 'cc0-1.0' });
    const cn = fakeCommit();
    const files = folderFiles(join(repoRoot, 'models', 'tiny-shapes', 'controlnet', 'canny')).map((f) => ({ ...f, path: `canny/${f.path}` }));
    hub.addRepo({ repo: 'imgprompt/tiny-controlnet', refs: { main: cn }, commits: { [cn]: files }, license: 'openrail' });
    await hub.start();
    box = mkdtempSync(join(tmpdir(), 'imgprompt-hubadapters-'));
    project = join(box, 'project');
    mkdirSync(join(project, '.git'), { recursive: true });
    copyFileSync(join(repoRoot, 'test', 'fixtures', 'hints', 'controlnet_house_scribble.png'), join(project, 'hint.png'));
    writeFileSync(join(project, 'fig.imgprompt'), SCENE);
  });
  after(async () => {
    await hub.stop();
    rmSync(box, { recursive: true, force: true });
  });

  test('a hub reference after embedding: keeps its colons; a weight colon after it does not', () => {
    assert.deepEqual(explicitEmbeddingRefs(`(embedding:${EMBEDDING}:1.2), embedding:civitai:123, embedding:urn:air:sd1:embedding:civitai:4@56.`), [EMBEDDING, 'civitai:123', 'urn:air:sd1:embedding:civitai:4@56']);
    // Where each is, for the editor's hover: from `embedding:` to the end of the reference.
    const line = `x (embedding:${EMBEDDING}:1.2)`;
    assert.deepEqual(explicitEmbeddingSpans(line), [{ ref: EMBEDDING, start: 3, end: 3 + 'embedding:'.length + EMBEDDING.length }]);
    assert.deepEqual(sceneHubRefs(SCENE).map((r) => r.text), [CONTROLNET, EMBEDDING]);
  });

  test('per keystroke: not downloaded is an error at the reference, and nothing is fetched', () => {
    const context = { file: join(project, 'fig.imgprompt'), projectRoot: project, builtinModelsDir: join(repoRoot, 'models'), hub: projectHubLookup(join(box, 'cache-none'), project) };
    const checked = checkScene(SCENE, context);
    const cnError = checked.diagnostics.find((d) => d.code === 'model-not-downloaded');
    assert.ok(cnError, JSON.stringify(checked.diagnostics));
    assert.match(cnError.message, /ControlNet 'hf:imgprompt\/tiny-controlnet\/canny' is not downloaded yet/);
    assert.equal(cnError.range.start.line, 7);
    const withoutCn = analyzeScene(SCENE.replace(/    model: .*\n/, ''), context);
    const embError = withoutCn.diagnostics.find((d) => d.code === 'model-not-downloaded');
    assert.match(embError?.message ?? '', /embedding 'hf:imgprompt\/tiny-embeddings\/red-ish\.safetensors' is not downloaded yet/);
    assert.equal(embError?.range.start.line, 1);
    assert.equal(hub.log.length, 0);
  });

  test('control[].model may name a folder of the project holding an ONNX ControlNet', () => {
    const context = { file: join(project, 'fig.imgprompt'), projectRoot: project, builtinModelsDir: join(repoRoot, 'models') };
    const text = (folder: string) => `model: tiny-shapes\nprompt: x\ncontrol:\n  - type: canny\n    image: hint.png\n    model: ${folder}\n`;
    mkdirSync(join(project, 'empty-cn'), { recursive: true });
    const empty = analyzeScene(text('empty-cn'), context);
    assert.match(empty.diagnostics.find((d) => d.code === 'missing-controlnet')?.message ?? '', /ControlNet 'empty-cn' .* has no model\.onnx/);
    cpSync(join(repoRoot, 'models', 'tiny-shapes', 'controlnet', 'canny'), join(project, 'nets', 'canny'), { recursive: true });
    const ok = analyzeScene(text('nets/canny'), context);
    assert.deepEqual(ok.diagnostics.filter((d) => d.severity === 'error'), []);
    assert.equal(ok.resolved?.recipe.control[0].net?.ref, 'nets/canny');
    const outside = analyzeScene(text('../elsewhere'), context);
    assert.ok(outside.diagnostics.some((d) => d.code === 'outside-project'));
  });

  test('a render pulls both, locks them, and records them by reference', async () => {
    const env = { HF_HUB_CACHE: join(box, 'cache-a') };
    const first = await cli(['render', 'fig.imgprompt'], env);
    assert.equal(first.code, 0, first.err);
    const lock = JSON.parse(readFileSync(join(project, 'imgprompt.lock'), 'utf8'));
    assert.deepEqual(Object.keys(lock.models), ['hf:imgprompt/tiny-controlnet@main/canny', 'hf:imgprompt/tiny-embeddings@main/red-ish.safetensors']);
    assert.deepEqual(Object.keys(lock.models['hf:imgprompt/tiny-controlnet@main/canny'].files).sort(), ['canny/README.md', 'canny/config.json', 'canny/model.onnx']);
    assert.equal(lock.models['hf:imgprompt/tiny-embeddings@main/red-ish.safetensors'].license, 'cc0-1.0');

    const png = readFileSync(join(project, 'fig.png'));
    const recipe = JSON.parse(readPngTextFromBytes(png).find((t) => t.keyword === 'imgprompt')!.text);
    assert.equal(recipe.control[0].net.folder, 'hf:imgprompt/tiny-controlnet@main/canny');
    assert.equal(recipe.embeddings[0].file, 'hf:imgprompt/tiny-embeddings@main/red-ish.safetensors');
    assert.equal(recipe.embeddings[0].name, EMBEDDING);
    assert.ok(!JSON.stringify(recipe).includes(box), 'no path of this machine in the PNG');

    // The same ControlNet from the model's own folder reads the hint the same way: the same pixels.
    writeFileSync(join(project, 'local.imgprompt'), SCENE.replace(/    model: .*\n/, ''));
    const local = await cli(['render', 'local.imgprompt'], env);
    assert.equal(local.code, 0, local.err);
    const localRecipe = JSON.parse(readPngTextFromBytes(readFileSync(join(project, 'local.png'))).find((t) => t.keyword === 'imgprompt')!.text);
    assert.equal(localRecipe.control[0].net.hash, recipe.control[0].net.hash, 'the same ControlNet bytes');
    assert.equal(localRecipe.control[0].net.folder, 'controlnet/canny');

    // CI: an empty cache, the lock, --locked.
    rmSync(join(project, 'fig.png'));
    const ci = await cli(['render', '--locked', 'fig.imgprompt'], { HF_HUB_CACHE: join(box, 'cache-b') });
    assert.equal(ci.code, 0, ci.err);
    // The same bytes outside the C2PA chunk (each signing salts its claim afresh).
    assert.deepEqual(withoutC2paChunk(readFileSync(join(project, 'fig.png'))), withoutC2paChunk(png), 'the same bytes from the lock');
  });
});
