// End-to-end renders through the real onnxruntime on the embedded model: reproducibility, up-to-date
// checks, atomic output, cancellation, image-to-image, and errors for broken models.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  CancelledError,
  createRenderService,
  judgeFreshness,
  type RenderService,
  ModelError,
  readImageMetadata,
  resolveScene,
  type RenderJob,
} from '../../src/engine/index';
import { copyModel, modelDir, modelName, repoRoot, tempProject, jobsOf, renderToFile } from './modelUnderTest';

const builtinModelsDir = dirname(modelDir);

describe('Engine on ' + modelName, () => {
  let engine: RenderService;
  const project = tempProject();

  const plan = async (text: string, name = 'scene.imgprompt', modelsDir = builtinModelsDir): Promise<RenderJob[]> => {
    const file = project.write(name, text);
    const resolved = resolveScene(text, { file, projectRoot: project.dir, builtinModelsDir: modelsDir });
    return jobsOf(engine, resolved, project.dir);
  };
  // watermark: off: these tests compare the model's own pixels across recipes (watermark.test.ts covers the mark).
  const scene = (extra = '') => `model: ${modelName}\nprompt: a large red circle on the left, blue background\nseed: 42\nsteps: 6\nguidance: 7\nwatermark: off\n${extra}`;

  before(async () => {
    engine = await createRenderService({ threads: 2 });
  });
  after(async () => {
    await engine.dispose();
    project.cleanup();
  });

  test('renders a PNG of the resolved size carrying recipe, infotext and AI disclosure', async () => {
    const [job] = await plan(scene());
    const result = await renderToFile(engine, job);
    assert.equal(result.image.width, job.recipe.width);
    assert.equal(result.image.height, job.recipe.height);
    const report = readImageMetadata(readFileSync(job.output), job.output);
    assert.equal(report.metadata?.source, 'imgprompt');
    assert.equal(report.metadata?.prompt, 'a large red circle on the left, blue background');
    assert.equal(String(report.metadata?.seed), '42');
    assert.equal(report.provenance.aiGenerated, true);
    assert.equal(report.provenance.recipeHash, job.hash);
    assert.ok(report.text.some((t) => t.keyword === 'parameters' && /Steps: 6, Sampler: Euler/.test(t.text)));
    // Provenance never carries this machine's absolute paths.
    assert.ok(!readFileSync(job.output).toString('latin1').includes(project.dir), 'absolute project path found in the PNG');
  });

  test('the same recipe renders byte-identical PNGs, and the output is then up to date', async () => {
    const [job] = await plan(scene());
    const a = await engine.render(job);
    const b = await engine.render(job);
    assert.ok(a.png.equals(b.png), 'two renders of one recipe differ');
    await renderToFile(engine, job);
    assert.equal((await judgeFreshness(job)).state, 'up-to-date');
  });

  test('a pixel-affecting edit makes the output stale; a purpose edit does not', async () => {
    const [job] = await plan(scene());
    await renderToFile(engine, job);
    const [seedEdit] = await plan(scene().replace('seed: 42', 'seed: 43'));
    assert.equal((await judgeFreshness(seedEdit)).state, 'stale');
    const [purposeEdit] = await plan(scene('purpose: a new sentence\n'));
    assert.equal((await judgeFreshness(purposeEdit)).state, 'up-to-date');
  });

  test('guidance_rescale: 0 is the same figure as no key; 0.7 changes the pixels, the hash and the stored recipe', async () => {
    // With the watermark at its default, so the options hold only what this test sets.
    const marked = (extra = '') => scene(extra).replace('watermark: off\n', '');
    const [plain] = await plan(marked());
    const [zero] = await plan(marked('guidance_rescale: 0\n'));
    const [rescaled] = await plan(marked('guidance_rescale: 0.7\n'));
    assert.equal(zero.hash, plain.hash, 'an option at its default leaves the hash alone');
    assert.equal(zero.metadata.options, undefined);
    assert.notEqual(rescaled.hash, plain.hash);
    assert.deepEqual(rescaled.metadata.options, { guidance_rescale: 0.7 });
    const a = await engine.render(plain);
    const b = await engine.render(rescaled);
    assert.ok(!Buffer.from(a.image.data).equals(Buffer.from(b.image.data)), 'the rescale changed no pixel');
    const stored = readImageMetadata(b.png, 'rescaled.png').recipe as { options?: Record<string, unknown> };
    assert.deepEqual(stored.options, { guidance_rescale: 0.7 });
    await renderToFile(engine, plain);
    const stale = await judgeFreshness(rescaled);
    assert.equal(stale.state, 'stale');
    assert.match(stale.reason, /options\.guidance_rescale: \(none\) → 0\.7/);
  });

  test('different seeds give different images; with guidance 1 the negative prompt has no effect', async () => {
    const [a] = await plan(scene());
    const [b] = await plan(scene().replace('seed: 42', 'seed: 7'));
    const ra = await engine.render(a);
    const rb = await engine.render(b);
    assert.ok(!Buffer.from(ra.image.data).equals(Buffer.from(rb.image.data)));
    // guidance ≤ 1 skips the unconditional branch, so the negative prompt cannot change a pixel.
    const [plain] = await plan(scene().replace('guidance: 7', 'guidance: 1'));
    const [negative] = await plan(scene('negative: a green square\n').replace('guidance: 7', 'guidance: 1'));
    const [guided] = await plan(scene('negative: a green square\n'));
    const rp = await engine.render(plain);
    const rn = await engine.render(negative);
    assert.ok(Buffer.from(rp.image.data).equals(Buffer.from(rn.image.data)));
    assert.ok(!Buffer.from(rn.image.data).equals(Buffer.from((await engine.render(guided)).image.data)));
  });

  test('every sampler renders finite images', async () => {
    for (const [sampler, schedule] of [['euler', 'normal'], ['euler_a', 'karras'], ['ddim', 'normal'], ['dpmpp_2m', 'karras'], ['lcm', 'normal']]) {
      const [job] = await plan(scene(`sampler: ${sampler}\nschedule: ${schedule}\n`).replace('steps: 6', 'steps: 4'));
      const result = await engine.render(job);
      assert.equal(result.timings.unetCalls.length, 4, sampler);
      assert.ok(result.image.data.some((v) => v !== result.image.data[0]), `${sampler} gave a flat image`);
    }
  });

  test('cancelling mid-render stops within one step and leaves the previous output untouched', async () => {
    const [job] = await plan(scene().replace('steps: 6', 'steps: 12'));
    await renderToFile(engine, job);
    const before = readFileSync(job.output);
    const [edited] = await plan(scene().replace('steps: 6', 'steps: 12').replace('seed: 42', 'seed: 99'));
    const controller = new AbortController();
    let stepsSeen = 0;
    await assert.rejects(
      renderToFile(engine, edited, {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === 'denoise') {
            stepsSeen = p.step;
            if (p.step === 3) controller.abort();
          }
        },
      }),
      CancelledError,
    );
    assert.equal(stepsSeen, 3, 'a step ran after the abort');
    assert.ok(readFileSync(job.output).equals(before), 'the previous output changed');
    assert.deepEqual(readdirSync(project.dir).filter((n) => n.includes('.tmp')), [], 'a temp file was left behind');
  });

  test('progress reports each step with a latent preview', async () => {
    const [job] = await plan(scene());
    const seen: number[] = [];
    await engine.render(job, {
      previews: true,
      onProgress: (p) => {
        if (p.phase !== 'denoise') return;
        seen.push(p.step);
        assert.ok(p.preview && p.preview.data.length === p.preview.width * p.preview.height * 3);
      },
    });
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
  });

  test('image-to-image starts from the init image: low strength stays close to it', async () => {
    // The init image shows something else entirely (another prompt), so only the init can explain closeness.
    const [source] = await plan(scene().replace('a large red circle on the left, blue background', 'a large black square on the right, white background'));
    await renderToFile(engine, source);
    const init = join(project.dir, 'init.png');
    writeFileSync(init, readFileSync(source.output));
    const distance = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;
    const sourcePixels = (await engine.render(source)).image.data;
    const [low] = await plan(scene(`init:\n  image: init.png\n  strength: 0.3\n`).replace('seed: 42', 'seed: 77'));
    const [txt2img] = await plan(scene().replace('seed: 42', 'seed: 77'));
    const lowResult = await engine.render(low);
    const freeResult = await engine.render(txt2img);
    assert.ok(lowResult.timings.unetCalls.length < 6, 'img2img ran every step');
    assert.ok(
      distance(lowResult.image.data, sourcePixels) < distance(freeResult.image.data, sourcePixels),
      'strength 0.3 should stay closer to the init image than a free render of the prompt',
    );
  });

  test('a corrupt UNet is a ModelError naming the file, and nothing is written', async () => {
    const copy = copyModel(project.dir);
    const unet = join(copy, 'unet', 'model.onnx');
    truncateSync(unet, Math.floor(statSync(unet).size / 2));
    const [job] = await plan(scene().replace(`model: ${modelName}`, `model: ./models/${modelName}`), 'broken.imgprompt');
    await assert.rejects(renderToFile(engine, job), (error: unknown) => error instanceof ModelError && error.message.includes(unet));
    assert.equal(existsSync(job.output), false);
  });

  test('the repository root is not used as scratch space', () => {
    assert.equal(existsSync(join(repoRoot, 'scene.png')), false);
  });
});
