// Micro-benchmark of embedWatermark alone at 512² (the target: under 5 ms): the packed 32-bit path the
// engine uses against the byte-by-byte path, medians over a few hundred calls, CPU time per call (what
// the code costs on a busy machine) and the load average at the time, since a shared machine moves
// wall-clock medians a lot. Usage: npm run bench:watermark-embed [-- --iterations N]
import { loadavg } from 'node:os';
import { chipTile, embedBytes, embedWatermark, WATERMARK_STRENGTH } from '../src/engine/watermark/embedWatermark';
import type { RGBImage } from '../src/engine/image/rgbImage';
import { median, positiveIntegerOption } from './benchStats';

const args = process.argv.slice(2);
const flag = args.indexOf('--iterations');
const iterations =
  positiveIntegerOption(flag >= 0 ? args[flag + 1] : undefined, 'iterations', (message) => {
    console.error(message);
    process.exit(2);
  }) ?? 300;
const size = 512;
const data = new Uint8Array(size * size * 3);
let state = 1;
for (let i = 0; i < data.length; i++) {
  state = (state * 1103515245 + 12345) >>> 0;
  data[i] = state >>> 24;
}
const image: RGBImage = { data, width: size, height: size };
const payload = 'a1b2c3d4';

function measure(embed: () => unknown): { median: number; fastest: number; cpu: number } {
  for (let i = 0; i < 30; i++) embed(); // warm-up: let the JIT optimise before timing
  const times: number[] = [];
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    embed();
    times.push(performance.now() - start);
  }
  const cpu = process.cpuUsage(cpuStart);
  return { median: median(times), fastest: Math.min(...times), cpu: (cpu.user + cpu.system) / 1000 / iterations };
}

const packed = embedWatermark(image, payload);
const bytes = embedBytes(image, chipTile(payload), WATERMARK_STRENGTH);
if (!Buffer.from(packed.data).equals(Buffer.from(bytes.data))) throw new Error('the packed and byte paths disagree');

const load = loadavg().map((x) => x.toFixed(2)).join(' ');
const byteTimes = measure(() => embedBytes(image, chipTile(payload), WATERMARK_STRENGTH));
const packedTimes = measure(() => embedWatermark(image, payload));
const line = (name: string, t: { median: number; fastest: number; cpu: number }) =>
  `${name.padEnd(14)} median ${t.median.toFixed(2).padStart(6)} ms   fastest ${t.fastest.toFixed(2).padStart(6)} ms   CPU ${t.cpu.toFixed(2).padStart(6)} ms/call`;
console.log(`embedWatermark at ${size}x${size}, ${iterations} calls each; load average at start ${load}`);
console.log(line('byte by byte', byteTimes));
console.log(line('packed (used)', packedTimes));
console.log(`speed-up: ${(byteTimes.median / packedTimes.median).toFixed(2)}x median, ${(byteTimes.cpu / packedTimes.cpu).toFixed(2)}x CPU; target < 5 ms: ${packedTimes.median < 5 ? 'met' : 'NOT met'} (median)`);
console.log(`load average at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
