// Inpainting (scene `init: {image, mask, strength}`), as diffusers' StableDiffusionInpaintPipeline runs it.
// - An inpainting model (UNet with 9 input channels; the seeded SD 2.x-architecture toy, make_sd2_toy.py
//   --inpaint, epsilon): its single file is detected and converts into a folder that renders what torch's
//   export of the same modules renders (max 2 levels, the SD 1.5 conversion tests' tolerance); at strength 1
//   the init image reaches the UNet only through the masked image, so pixels under the white (repainted)
//   part of the mask change nothing, bit for bit, while pixels under the black (kept) part change the
//   render; the mask itself changes it; a render is deterministic.
// - A plain UNet (the seeded SD 1.5 toy) with a mask: after every step the kept region's latents are the
//   init image's, noised to the next step (after the last: the image's own), so two prompts end with
//   identical latents where the mask is black and different ones where it is white.
// - The mask's reading: grey by ITU-R 601 luma, binarized at 0.5; nearest-neighbour resize to latent size.
// The torch-backed parts are skipped with the reason without Debian's torch.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describeCheckpoint, readCheckpointHeader } from '../../src/engine/checkpoint';
import { convertCheckpoint, createRenderService, type RenderService, type RGBImage } from '../../src/engine/index';
import { loadMask, nearestResize } from '../../src/engine/pipeline/inpaintStage';
import { ensureSd15Random, sd15ReferenceUnavailable } from '../scale/sd15Random';
import { ensureSd2Toy } from '../scale/sd2Toy';

const skip = sd15ReferenceUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'imgprompt-inpaint-'));
const project = join(dir, 'project');
const SIZE = 128;
let service: RenderService;
let singleFile = '';
after(async () => {
  await service?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** An RGB PNG of SIZE² whose pixel (x, y) is `colour(x, y)`. */
async function png(name: string, colour: (x: number, y: number) => [number, number, number]): Promise<void> {
  const data = Buffer.alloc(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) data.set(colour(x, y), 3 * (y * SIZE + x));
  await sharp(data, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(join(project, name));
}

const base = (x: number, y: number): [number, number, number] => [(x * 2) & 255, (y * 2) & 255, 128];
/** White (repaint) on the right half, black (keep) on the left. */
const right = (x: number): boolean => x >= SIZE / 2;

before(async () => {
  mkdirSync(join(project, '.git'), { recursive: true });
  mkdirSync(join(project, 'models'));
  await png('init.png', base);
  await png('init-right-changed.png', (x, y) => (right(x) ? [255 - x, 30, y] : base(x, y)));
  await png('init-left-changed.png', (x, y) => (right(x) ? base(x, y) : [20, 255 - y, x]));
  await png('mask.png', (x) => (right(x) ? [255, 255, 255] : [0, 0, 0]));
  await png('mask-other.png', (_x, y) => (y >= SIZE / 2 ? [255, 255, 255] : [0, 0, 0]));
  if (skip) return;
  const toy = ensureSd2Toy('inpaint');
  singleFile = toy.singleFile;
  cpSync(toy.onnx, join(project, 'models', 'inpaint-export'), { recursive: true });
  cpSync(ensureSd15Random('toy').dir, join(project, 'models', 'plain'), { recursive: true });
  service = await createRenderService({ threads: 2 });
});

async function plan(model: string, init: string, extra = '') {
  const file = join(project, `s-${Math.random().toString(36).slice(2)}.imgprompt`);
  writeFileSync(file, `model: ./models/${model}\nprompt: a red square\nwatermark: off\nseed: 3\nsteps: 4\nguidance: 5\nsampler: ddim\nsize: {width: ${SIZE}, height: ${SIZE}}\ninit: ${init}\n${extra}`);
  return (await service.plan({ file, context: { projectRoot: project } })).jobs[0].job;
}

async function render(model: string, init: string, extra = ''): Promise<RGBImage> {
  return (await service.render(await plan(model, init, extra))).image;
}

function maxDiff(a: RGBImage, b: RGBImage): number {
  let max = 0;
  for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i] - b.data[i]));
  return max;
}

describe('the mask image', () => {
  test('is grey by 601 luma, binarized at 0.5 (white: 1, repaint), framed as the init image', async () => {
    const mask = await loadMask(join(project, 'mask.png'), SIZE, SIZE);
    assert.deepEqual([mask[0], mask[SIZE / 2 - 1], mask[SIZE / 2], mask[SIZE * SIZE - 1]], [0, 0, 1, 1]);
    await png('grey.png', (x) => (x < 10 ? [128, 128, 128] : x < 20 ? [127, 127, 127] : [0, 0, 255]));
    const grey = await loadMask(join(project, 'grey.png'), SIZE, SIZE);
    // 128/255 ≥ 0.5 > 127/255; pure blue has luma 29.
    assert.deepEqual([grey[0], grey[15], grey[100]], [1, 0, 0]);
  });

  test('shrinks to latent size by nearest neighbour (source pixel floor(i · H / h))', () => {
    const plane = Float32Array.from({ length: 16 }, (_v, i) => i);
    assert.deepEqual([...nearestResize(plane, 4, 4, 2, 2)], [0, 2, 8, 10]);
  });
});

describe('inpainting models (UNet with 9 input channels)', { skip }, () => {
  test('are detected and convert; the converted folder renders what the export renders', { timeout: 600_000 }, async () => {
    const d = describeCheckpoint(readCheckpointHeader(singleFile));
    assert.equal(d.label, 'Stable Diffusion 2.x (inpainting)');
    const result = await convertCheckpoint(singleFile, { out: join(project, 'models', 'inpaint-converted') });
    assert.equal(result.configs.unet.in_channels, 9);
    assert.equal(result.configs.prediction.type, 'epsilon');
    const scheduler = JSON.parse(readFileSync(join(project, 'models', 'inpaint-converted', 'scheduler', 'scheduler_config.json'), 'utf8')) as { prediction_type: string };
    assert.equal(scheduler.prediction_type, 'epsilon');
    const init = '{image: init.png, mask: mask.png, strength: 0.75}';
    const diff = maxDiff(await render('inpaint-export', init), await render('inpaint-converted', init));
    console.log(`converted inpainting checkpoint vs export, masked render: max pixel difference ${diff}`);
    assert.ok(diff <= 2, `max pixel difference ${diff}`);
  });

  test('at strength 1 the repainted region of the init image changes nothing; the kept region and the mask do', { timeout: 600_000 }, async () => {
    const first = await render('inpaint-export', '{image: init.png, mask: mask.png, strength: 1}');
    assert.equal(maxDiff(first, await render('inpaint-export', '{image: init.png, mask: mask.png, strength: 1}')), 0, 'deterministic');
    assert.equal(maxDiff(first, await render('inpaint-export', '{image: init-right-changed.png, mask: mask.png, strength: 1}')), 0, 'pixels under white are not read');
    assert.ok(maxDiff(first, await render('inpaint-export', '{image: init-left-changed.png, mask: mask.png, strength: 1}')) > 0, 'pixels under black are read');
    assert.ok(maxDiff(first, await render('inpaint-export', '{image: init.png, mask: mask-other.png, strength: 1}')) > 0, 'the mask is read');
    assert.ok(maxDiff(first, await render('inpaint-export', '{image: init.png, strength: 1}')) > 0, 'no mask: all repainted');
  });

  test('render text-to-image too (all-ones mask, zero masked image)', { timeout: 600_000 }, async () => {
    const file = join(project, 't2i.imgprompt');
    writeFileSync(file, `model: ./models/inpaint-export\nprompt: a cat\nseed: 1\nsteps: 2\nsampler: ddim\nsize: {width: 64, height: 64}\n`);
    const job = (await service.plan({ file, context: { projectRoot: project } })).jobs[0].job;
    const image = (await service.render(job)).image;
    assert.deepEqual([image.width, image.height], [64, 64]);
  });
});

describe('a mask on a plain UNet (4 input channels)', { skip }, () => {
  test('keeps the init image\'s latents where the mask is black and denoises where it is white', { timeout: 600_000 }, async () => {
    const final = async (prompt: string): Promise<Float32Array> => {
      let last = new Float32Array();
      const job = await plan('plain', '{image: init.png, mask: mask.png, strength: 0.75}', '');
      const text = { ...job, recipe: { ...job.recipe, prompt } };
      await service.render(text, { onStepLatents: (_s, l) => (last = Float32Array.from(l)) });
      return last;
    };
    const a = await final('a red square');
    const b = await final('a blue circle');
    const h = SIZE / 8;
    const w = SIZE / 8;
    let keptDiff = 0;
    let repaintDiff = 0;
    for (let c = 0; c < a.length / (h * w); c++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const i = c * h * w + y * w + x;
          const d = Math.abs(a[i] - b[i]);
          if (x < w / 2) keptDiff = Math.max(keptDiff, d);
          else repaintDiff = Math.max(repaintDiff, d);
        }
      }
    }
    assert.equal(keptDiff, 0, 'kept region: the init image\'s latents whatever the prompt');
    assert.ok(repaintDiff > 0, 'repainted region follows the prompt');
  });
});
