// Checkpoints users have, at SD 1.5's real size: the seeded random-weight SD 1.5 of tools/sd15_random
// written as an LDM single file (fp32 and fp16) and a diffusers folder (make_checkpoints), converted by
// imgprompt's own converter, must render what the optimum ONNX export of the same seed renders. The toy
// tests (test/engine/convertCheckpoint.test.ts) check the same at a narrow width; this one checks that
// nothing in the converter depends on the toy's sizes (head counts, 1280-wide levels, the 3.4 GB UNet's
// external data past 2 GiB offsets). Part of `npm run test:scale`:
//   IMGPROMPT_SCALE=full|toy node --import tsx --test test/scale/checkpointEquality.test.ts
// (toy: the same checks in about a minute, for development; full: converts ~9 GB, several minutes.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { convertCheckpoint, convertDiffusersFolder, createRenderService, resolveScene, type RenderService, type RGBImage } from '../../src/engine/index';
import { jobsOf } from '../engine/modelUnderTest';
import { ensureSd15Checkpoints, scaleFromEnv, sd15ReferenceUnavailable } from './sd15Random';

const scale = scaleFromEnv();
// As fullsize.test.ts: inside another npm script this would generate and convert gigabytes.
const npmScript = process.env.npm_lifecycle_event;
const skip = npmScript !== undefined && npmScript !== 'test:scale' ? `run by itself: npm run test:scale (not inside npm run ${npmScript})` : sd15ReferenceUnavailable();
const SIZE = 256;

function compare(a: RGBImage, b: RGBImage): { max: number; psnr: number } {
  assert.equal(a.data.length, b.data.length);
  let max = 0;
  let squared = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    max = Math.max(max, d);
    squared += d * d;
  }
  const mse = squared / a.data.length;
  return { max, psnr: mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse) };
}

describe(`converted checkpoints render what the optimum export renders (${scale} scale)`, { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-ckpt-scale-'));
  const models = join(dir, 'models');
  const project = join(dir, 'project');
  let exportDir = '';
  let checkpoints = '';
  let engine: RenderService;
  let reference: RGBImage;

  const render = async (model: string, searchPath: string): Promise<RGBImage> => {
    const text = `model: ${model}\nprompt: a red square on a blue background\nseed: 5\nsteps: 4\nguidance: 7\nsampler: euler\nwatermark: off\nsize: {width: ${SIZE}, height: ${SIZE}}\n`;
    const file = join(project, 'ckpt.imgprompt');
    const resolved = resolveScene(text, { file, projectRoot: project, modelSearchPaths: [searchPath] });
    return (await engine.render((await jobsOf(engine, resolved, project))[0])).image;
  };

  before(async () => {
    ({ onnx: exportDir, checkpoints } = ensureSd15Checkpoints(scale));
    mkdirSync(join(project, '.git'), { recursive: true });
    mkdirSync(models);
    engine = await createRenderService({ threads: Number(process.env.IMGPROMPT_THREADS) || undefined, cacheDir: join(dir, '.hash-cache') });
    reference = await render(basename(exportDir), dirname(exportDir));
  });

  after(async () => {
    await engine?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  // Each converted folder is rendered and then deleted: at full size one is 3–4.3 GB.
  const convertAndRender = async (name: string, convert: (out: string) => Promise<unknown>): Promise<{ max: number; psnr: number }> => {
    const out = join(models, name);
    const started = performance.now();
    await convert(out);
    const seconds = (performance.now() - started) / 1000;
    try {
      const result = compare(reference, await render(name, models));
      console.log(`${scale} ${name} vs optimum export: max pixel difference ${result.max}, PSNR ${result.psnr.toFixed(1)} dB; converted in ${seconds.toFixed(1)} s`);
      return result;
    } finally {
      await engine.dispose();
      engine = await createRenderService({ threads: Number(process.env.IMGPROMPT_THREADS) || undefined, cacheDir: join(dir, '.hash-cache') });
      rmSync(out, { recursive: true, force: true });
    }
  };

  // fp32 single file and diffusers folder: the same float32 weights through different graphs (our
  // builders vs torch's export), so only float rounding in the last bits differs; after 4 steps and
  // the 8-bit rounding of the image a pixel may move by one level, never more (the toy tests' bound).
  test('the fp32 single file converts and renders within one level of the export', { timeout: 3_600_000 }, async () => {
    const file = join(checkpoints, `sd15-random-${scale}.safetensors`);
    const { max, psnr } = await convertAndRender('from-fp32', (out) => convertCheckpoint(file, { out, tokenizerDir: join(exportDir, 'tokenizer') }));
    assert.ok(max <= 1, `max pixel difference ${max} (PSNR ${psnr.toFixed(1)} dB)`);
  });

  test('the diffusers folder converts and renders within one level of the export', { timeout: 3_600_000 }, async () => {
    const { max, psnr } = await convertAndRender('from-diffusers', (out) => convertDiffusersFolder(join(checkpoints, 'diffusers'), { out }));
    assert.ok(max <= 1, `max pixel difference ${max} (PSNR ${psnr.toFixed(1)} dB)`);
  });

  // fp16 single file: every weight is the export's rounded to float16 (a relative error up to 2⁻¹¹), so
  // the render is a slightly different model's, not a rounding of the same one; pixels may move by
  // several levels where the random UNet amplifies it, hence a PSNR bound (the toy tests' 40 dB: an
  // unrelated render or a wrong weight is below 15 dB), not a per-pixel one.
  test('the fp16 single file converts and renders close to the float32 export (PSNR)', { timeout: 3_600_000 }, async () => {
    const file = join(checkpoints, `sd15-random-${scale}-fp16.safetensors`);
    const { psnr } = await convertAndRender('from-fp16', (out) => convertCheckpoint(file, { out, tokenizerDir: join(exportDir, 'tokenizer') }));
    assert.ok(psnr > 40, `PSNR ${psnr.toFixed(1)} dB against the float32 export`);
  });
});
