// npm run bench:watermark — how well the invisible watermark survives what publishing does to a figure,
// and what it costs. Test images: renders of the embedded tiny-shapes model without the watermark
// (varied prompts and seeds at 128² and 256², cached under the imgprompt cache folder, so only the first
// run renders) plus the repository's larger fixture images. Each is marked with its own payload, attacked
// (sharp: JPEG q90/75/50, downscale 50%, crop 10%, PNG→WebP, an 8-bit RGBA/PNG round trip) and read back.
// Prints per attack the detection rate (payload read back exactly), the bit error rate of the 48-bit
// codeword and the false-positive count on the same images unmarked; then the PSNR cost and the median
// embedding and detection times at 512².
//
// options: --renders N (default 56), --fresh (re-render the cached images)
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { homedir } from 'node:os';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { createRenderService, decodeImageRGB, detectWatermark, embedWatermark, encodeCodeword, jobsForScene, resolveScene, type RGBImage } from '../src/engine/index';
import { WATERMARK_ATTACKS } from '../src/engine/watermark/watermarkAttacks';
import { median, positiveIntegerOption } from './benchStats';

const repoRoot = resolve(__dirname, '..');
const SHAPES = ['circle', 'square', 'triangle'];
const COLOURS = ['red', 'green', 'blue', 'yellow', 'orange', 'purple', 'black', 'white'];
const PLACES = ['in the center', 'on the left', 'on the right', 'at the top', 'at the bottom right'];

function cacheFolder(): string {
  const base = process.env.IMGPROMPT_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'imgprompt');
  return join(base, 'bench-watermark');
}

async function rgbOf(png: Buffer | string): Promise<RGBImage> {
  const bytes = typeof png === 'string' ? readFileSync(png) : png;
  return decodeImageRGB(bytes, typeof png === 'string' ? png : '<render>');
}

/** Unmarked renders of tiny-shapes, rendered once and cached as PNGs. */
async function renders(count: number, fresh: boolean): Promise<RGBImage[]> {
  const dir = cacheFolder();
  if (fresh) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const names = Array.from({ length: count }, (_, i) => `render-${i}.png`);
  const missing = names.filter((n) => !existsSync(join(dir, n)));
  if (missing.length > 0) {
    process.stderr.write(`rendering ${missing.length} test images into ${dir} (once)...\n`);
    const service = await createRenderService({ threads: 2 });
    try {
      for (const name of missing) {
        const i = Number(/\d+/.exec(name)![0]);
        const size = i % 4 === 3 ? '\nsize: {width: 256, height: 256}' : '';
        const prompt = `a large ${COLOURS[i % 8]} ${SHAPES[i % 3]} ${PLACES[i % 5]}, ${COLOURS[(i * 3 + 1) % 8]} background`;
        const text = `model: tiny-shapes\nprompt: ${prompt}\nseed: ${1000 + i}\nsteps: 8\nwatermark: off${size}\n`;
        const file = join(dir, `scene-${i}.imgprompt`);
        writeFileSync(file, text);
        const resolved = resolveScene(text, { file, projectRoot: dir, builtinModelsDir: join(repoRoot, 'models') });
        const [job] = await jobsForScene(resolved, dir, service.hashes, service.backend.runtimeVersion);
        const rendered = await service.render(job);
        writeFileSync(join(dir, name), rendered.png);
      }
    } finally {
      await service.dispose();
    }
  }
  return Promise.all(names.map((n) => rgbOf(join(dir, n))));
}

/** The repository's larger fixture images (photos, scribbles, other tools' renders). */
async function fixtures(): Promise<RGBImage[]> {
  const out: RGBImage[] = [];
  const roots = [join(repoRoot, 'test', 'fixtures', 'hints'), join(repoRoot, '..', 'shared', 'fixtures', 'comfyui')];
  for (const root of roots) {
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root).filter((n) => n.endsWith('.png')).sort()) out.push(await rgbOf(join(root, name)));
  }
  return out;
}

function psnr(a: RGBImage, b: RGBImage): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += (a.data[i] - b.data[i]) ** 2;
  return sum === 0 ? Infinity : 10 * Math.log10((255 * 255) / (sum / a.data.length));
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { renders: { type: 'string' }, fresh: { type: 'boolean' } } });
  const count = positiveIntegerOption(values.renders, 'renders', (m) => {
    throw new Error(m);
  }) ?? 56;
  const images = [...(await renders(count, values.fresh ?? false)), ...(await fixtures())];
  const payloads = images.map((_, i) => ((0x9e3779b1 * (i + 1)) >>> 0).toString(16).padStart(8, '0'));
  const marked = images.map((img, i) => embedWatermark(img, payloads[i]));
  const sizes = new Map<string, number>();
  for (const img of images) sizes.set(`${img.width}x${img.height}`, (sizes.get(`${img.width}x${img.height}`) ?? 0) + 1);
  console.log(`watermark robustness: ${images.length} images (${[...sizes].map(([s, n]) => `${n}× ${s}`).join(', ')}), each with its own 32-bit payload\n`);
  console.log(`${'attack'.padEnd(22)} ${'detected'.padStart(9)} ${'rate'.padStart(7)} ${'bit errors'.padStart(11)} ${'false pos.'.padStart(11)} ${'detect ms'.padStart(10)}`);
  for (const [name, attack] of Object.entries(WATERMARK_ATTACKS)) {
    let detected = 0;
    let bitErrors = 0;
    let falsePositives = 0;
    const times: number[] = [];
    for (const [i, img] of marked.entries()) {
      const attacked = await attack(img);
      const start = performance.now();
      const found = detectWatermark(attacked);
      times.push(performance.now() - start);
      if (found.detected && found.payload === payloads[i]) detected++;
      const expected = encodeCodeword(payloads[i]);
      for (let b = 0; b < expected.length; b++) if (expected[b] !== found.bits[b]) bitErrors++;
      if (detectWatermark(await attack(images[i])).detected) falsePositives++;
    }
    const n = marked.length;
    console.log(
      `${name.padEnd(22)} ${`${detected}/${n}`.padStart(9)} ${pct(detected / n).padStart(7)} ${pct(bitErrors / (n * 48)).padStart(11)} ${`${falsePositives}/${n}`.padStart(11)} ${median(times).toFixed(0).padStart(10)}`,
    );
  }

  const costs = images.map((img, i) => psnr(img, marked[i]));
  console.log(`\nPSNR of marked vs unmarked: median ${median(costs).toFixed(2)} dB, worst ${Math.min(...costs).toFixed(2)} dB (target >= 40 dB)`);

  // Time at 512²: one 512×512 figure (a render upscaled, so its content is like ours).
  const { data, info } = await sharp(Buffer.from(images[0].data), { raw: { width: images[0].width, height: images[0].height, channels: 3 } }).resize(512, 512).raw().toBuffer({ resolveWithObject: true });
  const big: RGBImage = { data: new Uint8Array(data), width: info.width, height: info.height };
  // Wall-clock medians are what a user waits; CPU time per call is what the code costs on a busy machine.
  const embedTimes: number[] = [];
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < 100; i++) {
    const start = performance.now();
    embedWatermark(big, 'a1b2c3d4');
    embedTimes.push(performance.now() - start);
  }
  const cpu = process.cpuUsage(cpuStart);
  const embedCpu = (cpu.user + cpu.system) / 1000 / 100;
  const detectTimes: number[] = [];
  const bigMarked = embedWatermark(big, 'a1b2c3d4');
  for (let i = 0; i < 7; i++) {
    const start = performance.now();
    detectWatermark(bigMarked);
    detectTimes.push(performance.now() - start);
  }
  console.log(
    `time at 512x512: embed median ${median(embedTimes).toFixed(2)} ms, fastest ${Math.min(...embedTimes).toFixed(2)} ms, CPU ${embedCpu.toFixed(2)} ms per call (target < 5 ms); detect median ${median(detectTimes).toFixed(0)} ms`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
