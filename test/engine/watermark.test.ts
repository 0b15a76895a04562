// The watermark in real renders of the embedded model: on by default and deterministic (a re-render is
// byte-identical), recorded in the recipe, part of the hash, readable after the metadata is stripped,
// and `watermark: off` renders the model's own pixels.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { createRenderService, detectWatermark, drawLabel, embedWatermark, payloadOfHash, readImageMetadata, readWatermark, resolveScene, type RenderJob, type RenderService, type ResolveContext } from '../../src/engine/index';
import { jobsOf, modelDir, modelName, renderToFile, tempProject } from './modelUnderTest';
import { dirname } from 'node:path';

describe('watermark in renders of ' + modelName, () => {
  let engine: RenderService;
  const project = tempProject();
  const plan = async (text: string, name = 'scene.imgprompt', extra: Partial<ResolveContext> = {}): Promise<RenderJob> => {
    const file = project.write(name, text);
    const resolved = resolveScene(text, { file, projectRoot: project.dir, builtinModelsDir: dirname(modelDir), ...extra });
    return (await jobsOf(engine, resolved, project.dir))[0];
  };
  const scene = (extra = '') => `model: ${modelName}\nprompt: a large red circle on the left, blue background\nseed: 42\nsteps: 6\n${extra}`;

  before(async () => {
    engine = await createRenderService({ threads: 2 });
  });
  after(async () => {
    await engine.dispose();
    project.cleanup();
  });

  test('on by default: byte-identical re-renders that carry the recipe hash, recorded in the recipe', async () => {
    const job = await plan(scene());
    assert.deepEqual(job.metadata.watermark, { algorithm: 'io.imgprompt.watermark.haar-ll2-ss.1', payload: payloadOfHash(job.hash) });
    const a = await engine.render(job);
    const b = await engine.render(job);
    assert.ok(a.png.equals(b.png), 'two renders of one recipe differ');
    const found = detectWatermark(a.image);
    assert.equal(found.detected, true);
    assert.equal(found.payload, job.hash.slice(0, 8));
    const stored = readImageMetadata(a.png, 'a.png');
    assert.deepEqual(stored.provenance.watermark, job.metadata.watermark);
    assert.equal(stored.provenance.audience, 'team');
  });

  test('watermark: off renders the unmarked pixels under another hash; on = off + the mark, exactly', async () => {
    const on = await plan(scene());
    const off = await plan(scene('watermark: off\n'));
    assert.notEqual(on.hash, off.hash);
    assert.equal(off.metadata.watermark, undefined);
    assert.deepEqual(off.metadata.options, { watermark: 'off' });
    const marked = await engine.render(on);
    const plain = await engine.render(off);
    assert.equal(detectWatermark(plain.image).detected, false);
    const expected = embedWatermark(plain.image, payloadOfHash(on.hash));
    assert.ok(Buffer.from(marked.image.data).equals(Buffer.from(expected.data)), 'the marked render is not the unmarked one plus the watermark');
  });

  test('a figure stripped of its metadata and re-encoded as JPEG still names its recipe', async () => {
    const job = await plan(scene('audience: public\n'), 'public.imgprompt');
    await renderToFile(engine, job);
    const png = readFileSync(job.output);
    assert.equal(readImageMetadata(png, job.output).provenance.audience, 'public');
    const jpeg = await sharp(png).jpeg({ quality: 75 }).toBuffer(); // sharp drops the PNG text chunks
    const report = await readWatermark(jpeg, 'public.jpg', job.hash);
    assert.equal(report.detected, true);
    assert.equal(report.matchesRecipe, true);
    const other = await readWatermark(jpeg, 'public.jpg', 'f'.repeat(64));
    assert.equal(other.matchesRecipe, false);
  });

  test('a visible label renders into the pixels, enters the hash and the recipe, and survives with the watermark', async () => {
    const plain = await plan(scene('watermark: off\n'), 'plain.imgprompt');
    const labelled = await plan(scene('watermark: off\nlabel: {text: AI-generated, corner: top-left, size: 14}\n'), 'labelled.imgprompt');
    const both = await plan(scene('label: {text: AI-generated, corner: top-left, size: 14}\n'), 'both.imgprompt');
    assert.notEqual(plain.hash, labelled.hash);
    assert.deepEqual(labelled.metadata.label, { text: 'AI-generated', corner: 'top-left', size: 14, opacity: 0.8 });
    const a = await engine.render(plain);
    const b = await engine.render(labelled);
    assert.ok(Buffer.from(b.image.data).equals(Buffer.from(drawLabel(a.image, labelled.metadata.label!).data)), 'the label is not what drawLabel draws');
    assert.ok((await engine.render(labelled)).png.equals(b.png), 'a labelled re-render is not byte-identical');
    const c = await engine.render(both);
    assert.equal(detectWatermark(c.image).payload, payloadOfHash(both.hash));
    assert.deepEqual(readImageMetadata(c.png, 'both.png').recipe?.label, { text: 'AI-generated', corner: 'top-left', size: 14, opacity: 0.8 });
  });

  test('a label from the settings (defaultLabel) is the same recipe and the same bytes as the scene key; label: off opts out', async () => {
    const defaultLabel = { text: 'AI-generated', corner: 'top-left' as const, size: 14 };
    const own = await plan(scene('label: {text: AI-generated, corner: top-left, size: 14}\n'), 'own.imgprompt');
    const fromSetting = await plan(scene(), 'own.imgprompt', { defaultLabel });
    assert.equal(fromSetting.hash, own.hash, 'a label from the setting hashes differently from the same label written in the scene');
    assert.deepEqual(fromSetting.metadata.label, { text: 'AI-generated', corner: 'top-left', size: 14, opacity: 0.8 });
    const first = await engine.render(fromSetting);
    assert.ok((await engine.render(own)).png.equals(first.png), 'the same recipe from the setting gave other bytes');
    assert.ok((await engine.render(fromSetting)).png.equals(first.png), 'a re-render with the setting is not byte-identical');
    const none = await plan(scene(), 'none.imgprompt');
    for (const off of ['label: off\n', "label: ''\n", 'label: false\n']) {
      const optedOut = await plan(scene(off), 'none.imgprompt', { defaultLabel });
      assert.equal(optedOut.metadata.label, undefined, off);
      assert.equal(optedOut.hash, none.hash, `${off.trim()} with a label setting is not the unlabelled recipe`);
    }
    const overridden = await plan(scene('label: Draft\n'), 'own.imgprompt', { defaultLabel });
    assert.equal(overridden.metadata.label?.text, 'Draft');
    assert.equal(overridden.metadata.label?.corner, 'bottom-right', 'the scene key replaces the setting whole, not field by field');
  });
});
