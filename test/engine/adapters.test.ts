// LoRAs and hint images on the embedded model, end to end through onnxruntime: the shipped LoRAs (one in
// kohya, one in PEFT naming) match every module, weight 0 renders exactly as no LoRA and weight 1 shows
// the style (pixel metrics as the adapters' cards define them); the canny ControlNet puts the object
// where the hint's shape is; controls outside their step window or at strength 0 change nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  createRenderService,
  type RenderService,
  canny,
  encodePixelsToPng,
  hintOutputPath,
  resolveScene,
  type RenderJob,
  type RenderedJob,
  type RGBImage,
} from '../../src/engine/index';
import { judgeImage, MAX_DISTANCE, PALETTE } from '../../scripts/eval/judge';
import { modelDir, modelName, repoRoot, tempProject, jobsOf, renderToFile, localBackend } from './modelUnderTest';

const builtinModelsDir = dirname(modelDir);
const otherModel = process.env.IMGPROMPT_TEST_MODEL_DIR ? 'the adapters are trained for tiny-shapes; another model is under test' : false;

/** Pixels farther than the judge's MAX_DISTANCE from the background colour (the judge's border rule). */
function foreground(image: RGBImage): Uint8Array {
  const bg = PALETTE.find((p) => p.name === judgeImage(image).background)!.rgb;
  const mask = new Uint8Array(image.width * image.height);
  for (let i = 0; i < mask.length; i++) {
    const d = Math.hypot(image.data[3 * i] - bg[0], image.data[3 * i + 1] - bg[1], image.data[3 * i + 2] - bg[2]);
    mask[i] = d > MAX_DISTANCE ? 1 : 0;
  }
  return mask;
}

/** tools/tiny_model/styles.py outline_score: share of dark pixels (luma < 90) in the 2-pixel inner rim of the foreground. */
function outlineScore(image: RGBImage): number {
  const { width: w, height: h } = image;
  const fg = foreground(image);
  let rim = 0;
  let dark = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!fg[y * w + x]) continue;
      let interior = true;
      for (let dy = -2; dy <= 2 && interior; dy++) {
        for (let dx = -2; dx <= 2; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || yy >= h || xx < 0 || xx >= w || !fg[yy * w + xx]) {
            interior = false;
            break;
          }
        }
      }
      if (interior) continue;
      rim++;
      const i = 3 * (y * w + x);
      if (0.299 * image.data[i] + 0.587 * image.data[i + 1] + 0.114 * image.data[i + 2] < 90) dark++;
    }
  }
  return rim < 20 ? 0 : dark / rim;
}

/** Intersection over union of two masks. */
function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    inter += a[i] & b[i];
    union += a[i] | b[i];
  }
  return union === 0 ? 0 : inter / union;
}

/** Distance from the mask's centroid to (cx, cy), in pixels (the image diagonal for an empty mask). */
function centroidDistance(mask: Uint8Array, width: number, cx: number, cy: number): number {
  let n = 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    n++;
    sx += i % width;
    sy += Math.floor(i / width);
  }
  return n === 0 ? Math.hypot(width, mask.length / width) : Math.hypot(sx / n - cx, sy / n - cy);
}

function samePixels(a: RenderedJob, b: RenderedJob): boolean {
  return Buffer.from(a.image.data).equals(Buffer.from(b.image.data));
}

describe('adapters on ' + modelName, { skip: otherModel }, () => {
  let engine: RenderService;
  const project = tempProject();
  const plan = async (text: string, name = 'scene.imgprompt'): Promise<RenderJob> => {
    const file = project.write(name, text);
    const [job] = await jobsOf(engine, resolveScene(text, { file, projectRoot: project.dir, builtinModelsDir }), project.dir);
    return job;
  };
  const scene = (prompt: string, extra = '', seed = 7) => `model: ${modelName}\nprompt: ${prompt}\nseed: ${seed}\nsteps: 12\nguidance: 7.5\nwatermark: off\n${extra}`;

  before(async () => {
    engine = await createRenderService({ threads: 2 });
  });
  after(async () => {
    await engine.dispose();
    project.cleanup();
  });

  test("step previews come from the model's preview decoder at full size and approach the final image", async () => {
    const job = await plan(scene('a large red circle on the left, blue background'));
    const previews: RGBImage[] = [];
    const result = await engine.render(job, { previews: true, onProgress: (p) => p.preview && previews.push(p.preview) });
    assert.equal(previews.length, job.recipe.steps);
    for (const p of previews) assert.deepEqual([p.width, p.height], [job.recipe.width, job.recipe.height]);
    const mse = (a: RGBImage) => a.data.reduce((sum, v, i) => sum + (v - result.image.data[i]) ** 2, 0) / a.data.length;
    const last = 10 * Math.log10((255 * 255) / mse(previews[previews.length - 1]));
    assert.ok(last > 28, `last preview vs final image: ${last.toFixed(1)} dB`);
    assert.ok(mse(previews[0]) > mse(previews[previews.length - 1]), 'previews converge toward the final image');
  });

  test('the shipped LoRAs are found by bare name and every module matches a weight of the model', async () => {
    for (const name of ['outline', 'striped']) {
      assert.ok(existsSync(join(modelDir, 'loras', `${name}.safetensors`)), `loras/${name}.safetensors is shipped`);
      const job = await plan(scene(`${name}, a large red circle in the center, blue background`, `loras:\n  - file: ${name}\n`));
      const result = await engine.render(job);
      assert.equal(result.loras.length, 1);
      const [report] = result.loras;
      assert.ok(report.total > 0);
      assert.equal(report.matched, report.total, `${name}: ${report.unmatched.join(', ')}`);
      assert.deepEqual(result.warnings, []);
    }
  });

  test('LoRA weight 0 renders exactly as no LoRA; weight 1 draws the outline style', async () => {
    const prompt = 'outline, a large red circle in the center, blue background';
    const none = await engine.render(await plan(scene(prompt)));
    const zero = await engine.render(await plan(scene(prompt, 'loras:\n  - file: outline\n    weight: 0\n')));
    assert.ok(samePixels(none, zero), 'weight 0 changed pixels');
    let styled = 0;
    let plain = 0;
    for (const seed of [1, 2, 3, 4]) {
      plain += outlineScore((await engine.render(await plan(scene(prompt, '', seed)))).image);
      styled += outlineScore((await engine.render(await plan(scene(prompt, 'loras:\n  - file: outline\n    weight: 1\n', seed)))).image);
    }
    assert.ok(styled / 4 > plain / 4 + 0.25, `outline score with the LoRA ${(styled / 4).toFixed(2)} vs without ${(plain / 4).toFixed(2)}`);
  });

  test('a LoRA merges once: the next render with the same LoRA and weight reuses the patched sessions', async () => {
    const text = scene('striped, a large yellow square on the right, black background', 'loras:\n  - file: striped\n    weight: 0.8\n');
    const first = await engine.render(await plan(text));
    const before = localBackend(engine).sessions.stats;
    const second = await engine.render(await plan(text));
    assert.equal(localBackend(engine).sessions.stats.misses, before.misses, 'no session was created again');
    assert.equal(second.timings.stages.lora ?? 0, 0, 'no weights were merged again');
    assert.ok(samePixels(first, second));
  });

  test('a hint puts the object where the hint shape is', async () => {
    // Hints: the Canny edges of a flat circle at a corner the prompt does not name.
    const width = 128;
    const height = 128;
    const strength = 1;
    const corners = [
      { name: 'top left', cx: 36, cy: 36 },
      { name: 'bottom right', cx: 92, cy: 92 },
    ];
    let withControl = 0;
    let without = 0;
    let distWith = 0;
    let distWithout = 0;
    let n = 0;
    for (const corner of corners) {
      const rgb = new Uint8Array(width * height * 3).fill(20);
      const shape = new Uint8Array(width * height);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          if (Math.hypot(x - corner.cx, y - corner.cy) <= 24) {
            shape[y * width + x] = 1;
            rgb.fill(235, 3 * (y * width + x), 3 * (y * width + x) + 3);
          }
        }
      }
      const edges = canny(rgb, width, height);
      const hint = new Uint8Array(width * height * 3);
      for (let i = 0; i < edges.length; i++) hint.fill(edges[i], 3 * i, 3 * i + 3);
      const file = join(project.dir, `hint-${corner.cx}.png`);
      writeFileSync(file, await encodePixelsToPng({ data: hint, width, height, channels: 3 }));
      for (const seed of [11, 12, 13]) {
        const prompt = 'a large green circle, purple background';
        const plain = await engine.render(await plan(scene(prompt, '', seed)));
        const controlled = await engine.render(await plan(scene(prompt, `control:\n  - type: raw\n    image: hint-${corner.cx}.png\n    strength: ${strength}\n`, seed)));
        without += iou(foreground(plain.image), shape);
        withControl += iou(foreground(controlled.image), shape);
        distWith += centroidDistance(foreground(controlled.image), width, corner.cx, corner.cy);
        distWithout += centroidDistance(foreground(plain.image), width, corner.cx, corner.cy);
        n++;
      }
    }
    // Measured on the shipped ControlNet (6,080 steps): IoU 0.698 with the hint vs 0.087 without, and the
    // object's centroid 3.6 px vs 39.6 px from the hint shape's centre. The bounds keep a wide margin.
    const report = `IoU ${(withControl / n).toFixed(3)} with the hint vs ${(without / n).toFixed(3)} without; centroid ${(distWith / n).toFixed(1)} vs ${(distWithout / n).toFixed(1)} px from the hint shape's centre`;
    assert.ok(withControl / n > 0.5 && withControl / n > without / n + 0.3, report);
    assert.ok(distWith / n < 12 && distWith / n < distWithout / n - 20, report);
  });

  test('a control outside its step window, or at strength 0, changes nothing; --save-hints writes what the ControlNet saw', async () => {
    copyFileSync(join(repoRoot, 'test', 'fixtures', 'hints', 'controlnet_house_scribble.png'), join(project.dir, 'house.png'));
    const prompt = 'a small white square at the top, black background';
    const plain = await engine.render(await plan(scene(prompt)));
    const off = await engine.render(await plan(scene(prompt, 'control:\n  - type: scribble\n    image: house.png\n    strength: 0\n')));
    const empty = await engine.render(await plan(scene(prompt, 'control:\n  - type: scribble\n    image: house.png\n    start: 0.5\n    end: 0.5\n')));
    assert.ok(samePixels(plain, off), 'strength 0 changed pixels');
    assert.ok(samePixels(plain, empty), 'an empty step window changed pixels');
    const job = await plan(scene(prompt, 'control:\n  - type: scribble\n    image: house.png\n'), 'house-figure.imgprompt');
    const on = await renderToFile(engine, job, { saveHints: true });
    assert.ok(!samePixels(plain, on), 'the scribble changed nothing');
    assert.ok((on.timings.stages.controlnet ?? 0) > 0);
    const saved = hintOutputPath(job.output, 1);
    assert.ok(existsSync(saved), 'hint written beside the output');
    const hintPng = readFileSync(saved);
    assert.ok(hintPng.equals(await encodePixelsToPng({ ...on.hints[0].image, channels: 3 })));
    // The scribble is thinned to one-pixel white lines on black.
    const lit = on.hints[0].image.data.filter((v, i) => i % 3 === 0 && v === 255).length;
    assert.ok(lit > 50 && lit < 0.2 * job.recipe.width * job.recipe.height, `${lit} line pixels`);
  });
});
