// clip_skip, prompt emphasis and textual-inversion embeddings end to end on the embedded model: the
// option enters the hash, the stored recipe and the A1111 infotext ("Clip skip: 2") only when not 1,
// changes the pixels, and a PNG's infotext imports back to a scene that states it; emphasis changes the
// figure through the prompt text; an embedding's content enters the hash and the stored recipe, and one
// holding the token rows of "red circle" draws what those words draw.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRenderService, judgeFreshness, readImageMetadata, resolveScene, sceneFromMetadata, type RenderJob, type RenderService } from '../../src/engine/index';
import { initializerBytes, readOnnxModelFiles } from '../../src/engine/onnx/onnxModelFiles';
import { loadCLIPTokenizer } from '../../src/engine/tokenizer';
import { values, writeSafetensors } from '../unit/lora/loraFixtures';
import { parseInfotext } from '../../src/engine/interop/automatic1111';
import { parseScene } from '../../src/engine/scene/parseScene';
import { copyModel, jobsOf, modelDir, modelName, renderToFile, tempProject } from './modelUnderTest';

describe(`clip_skip and emphasis on ${modelName}`, () => {
  let engine: RenderService;
  const project = tempProject();
  const plan = async (text: string): Promise<RenderJob> => {
    const file = project.write('scene.imgprompt', text);
    const resolved = resolveScene(text, { file, projectRoot: project.dir, builtinModelsDir: dirname(modelDir) });
    return (await jobsOf(engine, resolved, project.dir))[0];
  };
  const scene = (extra = '', prompt = 'a large red circle on the left, blue background') =>
    `model: ${modelName}\nprompt: "${prompt}"\nseed: 42\nsteps: 6\nguidance: 7\nwatermark: off\n${extra}`;

  before(async () => {
    engine = await createRenderService({ threads: 2 });
  });
  after(async () => {
    await engine.dispose();
    project.cleanup();
  });

  test('clip_skip: 1 is the figure without the key; 2 changes pixels, hash, stored recipe and infotext, and imports back', async () => {
    // With the watermark at its default, so the options hold only what this test sets.
    const marked = (extra = '') => scene(extra).replace('watermark: off\n', '');
    const plain = await plan(marked());
    const one = await plan(marked('clip_skip: 1\n'));
    const two = await plan(marked('clip_skip: 2\n'));
    assert.equal(one.hash, plain.hash);
    assert.equal(one.metadata.options, undefined);
    assert.notEqual(two.hash, plain.hash);
    assert.deepEqual(two.metadata.options, { clip_skip: 2 });

    const a = await engine.render(plain);
    const b = await engine.render(two);
    assert.ok(!Buffer.from(a.image.data).equals(Buffer.from(b.image.data)), 'clip_skip 2 changed no pixel');
    const report = readImageMetadata(b.png, 'two.png');
    assert.deepEqual((report.recipe as { options?: unknown }).options, { clip_skip: 2 });
    const parameters = report.text.find((t) => t.keyword === 'parameters')?.text ?? '';
    assert.match(parameters, /, Clip skip: 2,/);
    assert.doesNotMatch(readImageMetadata(a.png, 'plain.png').text.find((t) => t.keyword === 'parameters')?.text ?? '', /Clip skip/);

    // The A1111 parameters alone (as another tool would read them) import to a scene with clip_skip: 2.
    const imported = parseScene(sceneFromMetadata(parseInfotext(parameters)));
    assert.deepEqual(imported.scene.options, { clip_skip: 2 });
  });

  test('emphasis in the prompt changes the figure; a weight of 1 spelled out does not change the pixels', async () => {
    const plain = await engine.render(await plan(scene('', 'a large red circle on the left, blue background')));
    const one = await engine.render(await plan(scene('', 'a large (red:1) circle on the left, blue background')));
    const up = await engine.render(await plan(scene('', 'a large (red:1.6) circle on the left, [[blue]] background')));
    assert.ok(Buffer.from(one.image.data).equals(Buffer.from(plain.image.data)));
    assert.ok(!Buffer.from(up.image.data).equals(Buffer.from(plain.image.data)));
  });

  test('an embedding from the embeddings folder beside the model: its content enters the hash and the recipe; rows of "red circle" draw as those words', async () => {
    const local = copyModel(project.dir);
    const library = join(dirname(local), 'embeddings');
    mkdirSync(library);
    const tok = await loadCLIPTokenizer(join(local, 'tokenizer'));
    const files = await readOnnxModelFiles(join(local, 'text_encoder', 'model.onnx'));
    const table = files.info.initializers.find((i) => /token_embedding/.test(i.name) && i.dims.length === 2)!;
    const bytes = initializerBytes(files, table)!;
    const rows = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    const width = table.dims[1];
    const vectors = tok.encode('red circle').flatMap((id) => [...rows.subarray(id * width, (id + 1) * width)]);
    writeSafetensors(library, 'shapey.safetensors', [{ name: 'emb_params', dtype: 'F32', shape: [2, width], values: vectors }]);
    const at = (prompt: string) => `model: ./models/${modelName}\nprompt: "${prompt}"\nseed: 42\nsteps: 6\nguidance: 7\nwatermark: off\n`;

    const withEmbedding = await plan(at('a large shapey on the left, blue background'));
    const withWords = await plan(at('a large red circle on the left, blue background'));
    assert.deepEqual(withWords.recipe.embeddings, undefined);
    assert.equal(withWords.metadata.embeddings, undefined);
    assert.deepEqual(withEmbedding.metadata.embeddings?.map((e) => [e.name, e.file]), [['shapey', 'embeddings/shapey.safetensors']]);
    assert.match(withEmbedding.metadata.embeddings?.[0].hash ?? '', /^sha256:[0-9a-f]{64}$/);
    const a = await renderToFile(engine, withEmbedding);
    const b = await engine.render(withWords);
    assert.ok(Buffer.from(a.image.data).equals(Buffer.from(b.image.data)), 'the embedding drew differently from the words its vectors copy');

    // New vectors in the same file: a new hash, and the figure is stale.
    writeSafetensors(library, 'shapey.safetensors', [{ name: 'emb_params', dtype: 'F32', shape: [2, width], values: values(2 * width, 3, 0.5) }]);
    const edited = await plan(at('a large shapey on the left, blue background'));
    assert.notEqual(edited.hash, withEmbedding.hash);
    assert.equal((await judgeFreshness(edited)).state, 'stale');
  });
});
