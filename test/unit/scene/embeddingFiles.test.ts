// Which embedding files a scene's prompts use: the model's embeddings/ folder by file name or
// embedding:NAME, project files by embedding:path, and an error at the prompt for each reference no file
// answers (missing, a pickle, outside the project).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeFileSystem } from '../../../src/engine/io/sceneFileSystem';
import { findEmbeddings, modelEmbeddingsDir } from '../../../src/engine/scene/embeddingFiles';

describe('findEmbeddings', () => {
  const base = mkdtempSync(join(tmpdir(), 'imgprompt-embeddings-'));
  after(() => rmSync(base, { recursive: true, force: true }));
  const library = join(base, 'models', 'embeddings');
  const project = join(base, 'project');
  const modelDir = join(base, 'models', 'sd15');
  for (const dir of [library, join(project, 'ti'), join(base, 'elsewhere'), modelDir]) mkdirSync(dir, { recursive: true });
  for (const f of ['EasyNegative.safetensors', 'bad-hands-5.safetensors', 'unused.safetensors', 'notes.txt']) writeFileSync(join(library, f), 'x');
  writeFileSync(join(project, 'ti', 'ink.safetensors'), 'x');
  writeFileSync(join(project, 'local.safetensors'), 'x');
  writeFileSync(join(project, 'old.pt'), 'x');
  writeFileSync(join(base, 'elsewhere', 'far.safetensors'), 'x');
  symlinkSync(join(base, 'elsewhere', 'far.safetensors'), join(project, 'ti', 'link.safetensors'));
  const range = { start: { line: 1, character: 8 }, end: { line: 1, character: 20 } };
  const find = (...texts: string[]) =>
    findEmbeddings({ fs: nodeFileSystem, modelDir, sceneFile: join(project, 'scene.imgprompt'), projectRoot: project, texts: texts.map((text) => ({ text, range })) });

  test("the model's embeddings folder is embeddings/ beside the model folder", () => {
    assert.equal(modelEmbeddingsDir(modelDir), library);
  });

  test('library files by bare name (any case) or embedding:NAME; unused files and other extensions are left out', () => {
    const { embeddings, diagnostics } = find('a cat, easynegative', 'embedding:bad-hands-5, blurry');
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(
      embeddings.map((e) => [e.name, e.byName, e.ref]),
      [
        ['EasyNegative', true, 'embeddings/EasyNegative.safetensors'],
        ['bad-hands-5', true, 'embeddings/bad-hands-5.safetensors'],
      ],
    );
    assert.equal(embeddings[0].path, join(library, 'EasyNegative.safetensors'));
  });

  test('project files by embedding:path from the scene (extension optional), or a NAME beside the scene', () => {
    const { embeddings, diagnostics } = find('(embedding:ti/ink:1.2) cat embedding:local');
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(
      embeddings.map((e) => [e.name, e.byName, e.ref]),
      [
        ['ti/ink', false, 'ti/ink.safetensors'],
        ['local', false, 'local.safetensors'],
      ],
    );
  });

  test('a reference no file answers is an error at the prompt: missing, a pickle, outside the project', () => {
    const { diagnostics } = find('embedding:nothing embedding:old embedding:../elsewhere/far embedding:ti/link');
    assert.deepEqual(
      diagnostics.map((d) => [d.code, d.range === range]),
      Array(4).fill(['missing-embedding', true]),
    );
    assert.match(diagnostics[0].message, /embedding 'nothing' not found: looked for nothing\.safetensors in .*embeddings and beside the scene/);
    assert.match(diagnostics[1].message, /'old' is old\.pt, a pickle, which is never loaded: convert it to \.safetensors/);
    assert.match(diagnostics[2].message, /outside the project folder/);
    assert.match(diagnostics[3].message, /outside the project folder/);
  });

  test('no references, no embeddings', () => {
    assert.deepEqual(find('a red circle', ''), { embeddings: [], diagnostics: [] });
  });
});
