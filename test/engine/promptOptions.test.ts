// clip_skip and prompt emphasis end to end on the embedded model: the option enters the hash, the
// stored recipe and the A1111 infotext ("Clip skip: 2") only when not 1, changes the pixels, and a PNG's
// infotext imports back to a scene that states it; emphasis changes the figure through the prompt text.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { createRenderService, readImageMetadata, resolveScene, sceneFromMetadata, type RenderJob, type RenderService } from '../../src/engine/index';
import { parseInfotext } from '../../src/engine/interop/automatic1111';
import { parseScene } from '../../src/engine/scene/parseScene';
import { jobsOf, modelDir, modelName, tempProject } from './modelUnderTest';

describe(`clip_skip and emphasis on ${modelName}`, () => {
  let engine: RenderService;
  const project = tempProject();
  const plan = async (text: string): Promise<RenderJob> => {
    const file = project.write('scene.imgprompt', text);
    const resolved = resolveScene(text, { file, projectRoot: project.dir, builtinModelsDir: dirname(modelDir) });
    return (await jobsOf(engine, resolved, project.dir))[0];
  };
  const scene = (extra = '', prompt = 'a large red circle on the left, blue background') =>
    `model: ${modelName}\nprompt: "${prompt}"\nseed: 42\nsteps: 6\nguidance: 7\n${extra}`;

  before(async () => {
    engine = await createRenderService({ threads: 2 });
  });
  after(async () => {
    await engine.dispose();
    project.cleanup();
  });

  test('clip_skip: 1 is the figure without the key; 2 changes pixels, hash, stored recipe and infotext, and imports back', async () => {
    const plain = await plan(scene());
    const one = await plan(scene('clip_skip: 1\n'));
    const two = await plan(scene('clip_skip: 2\n'));
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
});
