// checkScene against an injected in-memory file system: files, models and project boundaries.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeScene, checkScene, type SceneFileSystem } from '../../../src/engine/index';

const TINY_INDEX = '{"imgprompt": {"defaults": {"guidance": 3}}}';
const TINY_UNET = '{"sample_size": 16, "block_out_channels": [32, 64, 128]}';

function memoryFs(files: Record<string, string>): SceneFileSystem & { stats: string[] } {
  const dirs = new Set<string>();
  for (const f of Object.keys(files)) for (let d = f.slice(0, f.lastIndexOf('/')); d; d = d.slice(0, d.lastIndexOf('/'))) dirs.add(d);
  const stats: string[] = [];
  return {
    stats,
    stat: (p) => {
      stats.push(p);
      return p in files ? 'file' : dirs.has(p) ? 'directory' : undefined;
    },
    readText: (p) => files[p],
  };
}

const fs = memoryFs({
  '/proj/docs/figs/assets/hint.png': '',
  '/proj/docs/figs/lora.safetensors': '',
  '/proj/docs/figs/local-model/model_index.json': TINY_INDEX,
  '/proj/docs/figs/local-model/unet/config.json': TINY_UNET,
  '/models/tiny/model_index.json': TINY_INDEX,
  '/models/tiny/unet/config.json': TINY_UNET,
  '/models/tiny/controlnet/raw/model.onnx': '',
  '/models/tiny/loras/outline.safetensors': '',
  '/models/empty/readme.txt': '',
  '/outside/x.png': '',
});
const context = { file: '/proj/docs/figs/scene.imgprompt', projectRoot: '/proj', modelSearchPaths: ['/models'], fs };

function codes(text: string): string[] {
  return checkScene(text, context).diagnostics.map((d) => `${d.range.start.line}:${d.code}`);
}

describe('checkScene', () => {
  test('a scene whose files exist is clean and resolves through the injected file system', () => {
    const text = 'model: tiny\nprompt: x\nloras: [{file: lora.safetensors}]\ncontrol: [{type: raw, image: assets/hint.png}]\n';
    assert.deepEqual(codes(text), []);
    const analysis = analyzeScene(text, context);
    assert.equal(analysis.resolved?.recipe.guidance, 3);
    assert.equal(analysis.resolved?.recipe.loras[0].ref, 'docs/figs/lora.safetensors');
    assert.equal(analysis.resolved?.recipe.output, '/proj/docs/figs/scene.png');
  });

  test("a hint type needs a ControlNet of the model: a controlnet/<type>/ folder, or one model_index.json declares", () => {
    assert.deepEqual(codes('model: tiny\nprompt: x\ncontrol: [{type: canny, image: assets/hint.png}]\n'), []);
    const analysis = analyzeScene('model: tiny\nprompt: x\ncontrol:\n  - type: canny\n    image: assets/hint.png\n', context);
    const d = analysis.diagnostics.find((x) => x.code === 'no-controlnet');
    assert.ok(d, 'no-controlnet reported');
    assert.equal(d.range.start.line, 3);
    assert.match(d.message, /model tiny has no ControlNet for 'canny' hints/);
    assert.equal(analyzeScene('model: tiny\nprompt: x\ncontrol: [{type: raw, image: assets/hint.png}]\n', context).resolved?.recipe.control.length, 1);
  });

  test("a bare LoRA name is one of the model's own LoRAs (loras/<name>.safetensors); a missing one is named", () => {
    const analysis = analyzeScene('model: tiny\nprompt: x\nloras: [{file: outline, weight: 0.5}]\n', context);
    assert.deepEqual(analysis.diagnostics, []);
    assert.equal(analysis.resolved?.recipe.loras[0].path, '/models/tiny/loras/outline.safetensors');
    assert.equal(analysis.resolved?.recipe.loras[0].ref, 'tiny/loras/outline.safetensors');
    const d = checkScene('model: tiny\nprompt: x\nloras: [{file: stripes}]\n', context).diagnostics[0];
    assert.equal(d.code, 'missing-file');
    assert.match(d.message, /LoRA 'stripes' not found: model tiny has no loras\/stripes.safetensors/);
  });

  test('checking only stats (no reads) and only the files the scene names', () => {
    fs.stats.length = 0;
    checkScene('model: tiny\nprompt: x\ninit: {image: assets/hint.png}\n', context);
    assert.deepEqual(fs.stats, ['/models/tiny', '/models/tiny/model_index.json', '/proj/docs/figs/assets/hint.png']);
  });

  test('missing files, folders given as files, and paths leaving the project are errors at their lines', () => {
    assert.deepEqual(codes('model: tiny\nprompt: x\ninit: {image: assets}\n'), ['2:missing-file']);
    assert.deepEqual(codes('model: tiny\nprompt: x\ninit: {image: nope.png}\n'), ['2:missing-file']);
    assert.deepEqual(codes('model: tiny\nprompt: x\ninit: {image: ../../../outside/x.png}\n'), ['2:outside-project']);
    assert.deepEqual(codes('model: tiny\nprompt: x\ninit: {image: assets/hint.png, mask: nope.png}\n'), ['2:missing-file']);
    assert.deepEqual(codes('model: tiny\nprompt: x\ninit: {image: assets/hint.png, mask: assets/hint.png}\n'), []);
    assert.deepEqual(codes('model: tiny\nprompt: x\noutput: /outside/y.png\n'), ['2:outside-project']);
    assert.deepEqual(codes('model: tiny\nprompt: x\noutput: /proj/y.png\n'), ['2:absolute-path']);
  });

  test('models: by name from the search paths, by path inside the project, never a relative path outside it', () => {
    assert.deepEqual(codes('model: ./local-model\nprompt: x\n'), []);
    assert.deepEqual(codes('model: ../../../models/tiny\nprompt: x\n'), ['0:outside-project']);
    assert.deepEqual(codes('model: empty\nprompt: x\n'), ['0:missing-model']);
    const d = checkScene('model: local-model\nprompt: x\n', context).diagnostics[0];
    assert.match(d.message, /model 'local-model' not found; looked in \/models\/local-model; a folder 'local-model' exists beside the scene: write '.\/local-model'/);
  });

  test('an unknown model name gets a suggestion from the folders searched', () => {
    const withListing = { ...context, fs: { ...fs, subfolders: (p: string) => (p === '/models' ? ['tiny', 'empty'] : []) } };
    const d = checkScene('model: tiyn\nprompt: x\n', withListing).diagnostics[0];
    assert.match(d.message, /model 'tiyn' not found; looked in \/models\/tiyn; did you mean 'tiny'\?/);
  });

  test('the default model is tiny-shapes, looked up like any bare name', () => {
    const d = checkScene('prompt: x\n', context).diagnostics;
    assert.deepEqual(d.map((x) => x.code), ['missing-model']);
    assert.match(d[0].message, /model 'tiny-shapes' not found/);
  });

  test('references are not checked while the YAML is broken', () => {
    assert.deepEqual(codes('model: nowhere\nprompt: [x\n'), ['2:yaml-syntax']); // the unclosed list, at the end
  });
});
