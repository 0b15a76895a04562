// `npm run eval:precision:sdxl`: what each weight precision (`precision: int8 | fp16 | bf16`) costs on an
// SDXL model, measured on the seeded random-weight toy SDXL (tools/sdxl_random, generated into the cache
// on first use). The variant applies to the UNet only, as for SD 1.5: both text encoders and the VAE stay
// float32 (so SDXL's float16 VAE overflow cannot arise from it). Per precision:
//   - the UNet's output against the float32 UNet's on make_model.py's reference inputs (batch 2, SDXL's
//     six time ids), relative to the largest |output|: largest and RMS;
//   - renders (prompts × seeds, 128², Euler) against the float32 render of the same recipe: PSNR over
//     all images, the largest pixel difference, identical images;
//   - speed: one UNet call at 128×128 latents (1024², batch 2), the precisions interleaved so that other
//     load on the machine falls on each alike, and a whole render (precision by precision), medians.
// Random weights make the images noise: these are toy-scale figures for the arithmetic, not a judgement
// of picture quality (docs/precision.md).
//
//   node --import tsx scripts/eval-precision-sdxl.ts [--seeds N] [--steps N] [--runs N] [--threads N] [--json FILE]
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { acquireComponent, createRenderService, floatTensor, PRECISIONS, SessionCache, UNet, type PrecisionName, type RGBImage } from '../src/engine/index';
import { readSafetensors } from '../src/engine/lora';
import { precisionPatch } from '../src/engine/onnx/precision';
import type { FloatTensor } from '../src/engine/onnx/tensor';
import { ensureSdxlRandom } from '../test/scale/sdxlRandom';
import { median, positiveIntegerOption } from './benchStats';

const PROMPTS = [
  'a red square on a blue background',
  'a large green circle, purple background',
  'a small white triangle at the top, black background',
  'two yellow stripes on a grey field',
];

function fail(message: string): never {
  console.error(`eval-precision-sdxl: ${message}`);
  process.exit(2);
}

interface UNetError {
  readonly max: number;
  readonly rms: number;
}

function unetError(actual: Float32Array, expected: Float32Array): UNetError {
  let peak = 0;
  let max = 0;
  let squares = 0;
  for (let i = 0; i < expected.length; i++) {
    if (!Number.isFinite(actual[i])) throw new Error(`non-finite UNet output at ${i}`);
    peak = Math.max(peak, Math.abs(expected[i]));
    const d = actual[i] - expected[i];
    max = Math.max(max, Math.abs(d));
    squares += d * d;
  }
  return { max: max / peak, rms: Math.sqrt(squares / expected.length) / peak };
}

interface ImageComparison {
  readonly psnr: number;
  readonly maxPixelDifference: number;
  readonly identical: number;
}

function compareImages(images: readonly RGBImage[], reference: readonly RGBImage[]): ImageComparison {
  let squared = 0;
  let count = 0;
  let max = 0;
  let identical = 0;
  for (let i = 0; i < images.length; i++) {
    let same = true;
    for (let k = 0; k < images[i].data.length; k++) {
      const d = images[i].data[k] - reference[i].data[k];
      squared += d * d;
      if (d !== 0) {
        same = false;
        max = Math.max(max, Math.abs(d));
      }
    }
    count += images[i].data.length;
    if (same) identical++;
  }
  const mse = squared / Math.max(1, count);
  return { psnr: mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse), maxPixelDifference: max, identical };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { seeds: { type: 'string' }, steps: { type: 'string' }, runs: { type: 'string' }, threads: { type: 'string' }, json: { type: 'string' } },
    strict: true,
  });
  const seeds = positiveIntegerOption(values.seeds, 'seeds', fail) ?? 3;
  const steps = positiveIntegerOption(values.steps, 'steps', fail) ?? 12;
  const runs = positiveIntegerOption(values.runs, 'runs', fail) ?? 3;
  const threads = positiveIntegerOption(values.threads, 'threads', fail) ?? (Number(process.env.IMGPROMPT_THREADS) || 2);
  const files = ensureSdxlRandom('toy');
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-eval-precision-sdxl-'));
  const project = join(dir, 'project');
  mkdirSync(join(project, '.git'), { recursive: true });
  cpSync(files.onnx, join(project, 'models', 'sdxl'), { recursive: true });
  const unetDir = join(project, 'models', 'sdxl', 'unet');
  console.log(`eval-precision-sdxl: toy SDXL (seeded random weights), ${PROMPTS.length} prompts × ${seeds} seeds at 128², ${steps} Euler steps, guidance 6; ${threads} threads; ${PRECISIONS.join(', ')}`);

  // The UNet alone: outputs on the reference inputs, and a 1024² call's time.
  const reference = await readSafetensors(files.unetReference);
  const read = async (name: string): Promise<FloatTensor> => floatTensor(await reference.tensor(name), reference.tensors.get(name)!.shape);
  const inputs = {
    sample: await read('sample'),
    timestep: [...(await read('timestep')).data],
    encoderHiddenStates: await read('encoder_hidden_states'),
    extra: { text_embeds: await read('text_embeds'), time_ids: await read('time_ids') },
  };
  const large = {
    ...inputs,
    sample: floatTensor(Float32Array.from({ length: 2 * 4 * 128 * 128 }, (_, i) => Math.sin(i * 0.37)), [2, 4, 128, 128]),
    extra: { ...inputs.extra, time_ids: floatTensor(Float32Array.from([1024, 1024, 0, 0, 1024, 1024, 1024, 1024, 0, 0, 1024, 1024]), [2, 6]) },
  };
  const unetOut = {} as Record<PrecisionName, Float32Array>;
  const unetMs = {} as Record<PrecisionName, number>;
  const sessions = new SessionCache();
  const leases = [];
  try {
    // Every variant's session open at once (toy UNets are small) and the timed calls interleaved round by
    // round, so load from other processes falls on every precision alike.
    const times = {} as Record<PrecisionName, number[]>;
    for (const precision of PRECISIONS) {
      const lease = await acquireComponent(sessions, unetDir, UNet, { patch: precisionPatch(precision), options: { intraOpNumThreads: threads, deterministic: true } });
      leases.push(lease);
      unetOut[precision] = (await lease.component.predict(inputs)).data;
      await lease.component.predict(large);
      times[precision] = [];
    }
    for (let r = 0; r < runs; r++) {
      for (const [i, precision] of PRECISIONS.entries()) {
        const began = performance.now();
        await leases[i].component.predict(large);
        times[precision].push(performance.now() - began);
      }
    }
    for (const precision of PRECISIONS) {
      unetMs[precision] = median(times[precision]);
      console.error(`${precision}: UNet at 128×128 latents ${unetMs[precision].toFixed(0)} ms (median of ${runs})`);
    }
  } finally {
    for (const lease of leases) lease.release();
    await sessions.clear();
  }

  // Whole renders through the engine, the scene's precision key.
  const engine = await createRenderService({ threads });
  const images = {} as Record<PrecisionName, RGBImage[]>;
  const renderMs = {} as Record<PrecisionName, number>;
  const render = async (precision: PrecisionName, prompt: string, seed: number): Promise<RGBImage> => {
    const file = join(project, `scene-${precision}.imgprompt`);
    const key = precision === 'fp32' ? '' : `precision: ${precision}\n`;
    writeFileSync(file, `model: ./models/sdxl\nprompt: ${prompt}\nseed: ${seed}\nsteps: ${steps}\nguidance: 6\nsampler: euler\nsize: {width: 128, height: 128}\nwatermark: off\n${key}`);
    const plan = await engine.plan({ file, context: { projectRoot: project } });
    if (!plan.jobs[0]) throw new Error(`no job planned for ${file}`);
    return (await engine.render(plan.jobs[0].job)).image;
  };
  try {
    // Precision by precision: the render service keeps one UNet session per model folder, so switching
    // precision between renders would rebuild it every time.
    for (const precision of PRECISIONS) {
      await render(precision, PROMPTS[0], 1); // the variant's session is made outside the timing
      images[precision] = [];
      const times: number[] = [];
      for (const prompt of PROMPTS) {
        for (let seed = 1; seed <= seeds; seed++) {
          const began = performance.now();
          images[precision].push(await render(precision, prompt, seed));
          times.push(performance.now() - began);
        }
      }
      renderMs[precision] = median(times);
    }
  } finally {
    await engine.dispose();
    rmSync(dir, { recursive: true, force: true });
  }

  const rows = [['precision', 'UNet max rel. err', 'UNet RMS rel. err', 'PSNR vs fp32', 'max |Δ|', 'identical', 'UNet ms (1024²)', 'render ms (128²)']];
  const results: Record<string, unknown> = {};
  for (const precision of PRECISIONS) {
    const e = unetError(unetOut[precision], unetOut.fp32);
    const c = compareImages(images[precision], images.fp32);
    rows.push([
      precision,
      `${(100 * e.max).toFixed(3)} %`,
      `${(100 * e.rms).toFixed(3)} %`,
      c.psnr === Infinity ? '∞' : `${c.psnr.toFixed(1)} dB`,
      String(c.maxPixelDifference),
      `${c.identical}/${images[precision].length}`,
      unetMs[precision].toFixed(0),
      renderMs[precision].toFixed(0),
    ]);
    results[precision] = {
      unet_relative_error: { max: e.max, rms: e.rms },
      psnr: Number.isFinite(c.psnr) ? Math.round(c.psnr * 100) / 100 : null,
      max_pixel_difference: c.maxPixelDifference,
      identical_images: c.identical,
      images: images[precision].length,
      unet_ms_1024: Math.round(unetMs[precision]),
      render_ms_128: Math.round(renderMs[precision]),
    };
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  console.log(rows.map((r) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ')).join('\n'));
  if (values.json) {
    writeFileSync(values.json, `${JSON.stringify({ model: 'tools/sdxl_random toy (seeded random weights)', steps, seeds, prompts: PROMPTS, threads, precisions: results }, null, 1)}\n`);
    console.log(`wrote ${values.json}`);
  }
}

main().catch((error: unknown) => {
  console.error(`eval-precision-sdxl: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  process.exit(1);
});
