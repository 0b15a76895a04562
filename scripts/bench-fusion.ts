// Attention fusion (src/engine/model/attentionFusion.ts) before/after: UNet time per call (batch 2, as
// with classifier-free guidance) on tiny-shapes at 128² and the toy random SD 1.5 (generated into the
// cache when absent) at 256² and 512². Both sessions live in one process and their runs alternate, so
// background load hits both alike; each figure is the median of BENCH_RUNS timed runs (default 5) after
// one warm-up. Peak RSS is measured in a child process per variant (load + two runs), since a process's
// peak cannot be split between two sessions. IMGPROMPT_THREADS sets onnxruntime's threads (default 1).
// Run: nice -n 19 node --import tsx scripts/bench-fusion.ts
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fuseAttention } from '../src/engine/onnx/attentionFusion';
import { readOnnxModelFiles, type OnnxModelFiles } from '../src/engine/onnx/onnxModelFiles';
import { OnnxSession, type HostTensor } from '../src/engine/onnx/onnxSession';
import { ensureSd15Random, repoRoot } from '../test/scale/sd15Random';
import { median } from './benchStats';

const threads = Number(process.env.IMGPROMPT_THREADS) || 1;
const runs = Number(process.env.BENCH_RUNS ?? 5);
const SEQUENCE = 77;

function feedsFor(session: OnnxSession, latent: number): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = {};
  session.inputs.forEach((input, k) => {
    const dims = input.shape.map((d, i) => {
      if (typeof d === 'number') return d;
      if (i === 0) return 2;
      if (input.shape.length === 4) return i === 1 ? 4 : latent;
      return SEQUENCE;
    });
    const n = dims.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, (_, i) => (input.name === 'timestep' ? 500 : Math.sin(0.37 * i + k)));
    feeds[input.name] = { data, dims };
  });
  return feeds;
}

async function loadFiles(unetDir: string, fused: boolean): Promise<{ files: OnnxModelFiles; fusedCount: number; fuseMs: number }> {
  const files = await readOnnxModelFiles(join(unetDir, 'model.onnx'));
  if (!fused) return { files, fusedCount: 0, fuseMs: 0 };
  const start = performance.now();
  const result = fuseAttention(files);
  return { files: result.files, fusedCount: result.fused, fuseMs: performance.now() - start };
}

/** Child mode: load one variant, run twice, print peak RSS in MiB. */
async function child(unetDir: string, latent: number, fused: boolean): Promise<void> {
  const { files } = await loadFiles(unetDir, fused);
  const session = await OnnxSession.create(files, { intraOpNumThreads: threads });
  const feeds = feedsFor(session, latent);
  for (let i = 0; i < 2; i++) await session.run(feeds);
  await session.dispose();
  process.stdout.write(JSON.stringify({ maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
}

function peakRss(unetDir: string, latent: number, fused: boolean): number {
  const result = spawnSync(process.execPath, [...process.execArgv, __filename, '--child', unetDir, String(latent), fused ? '1' : '0'], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (result.status !== 0) throw new Error(`peak-RSS child failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { maxRssMiB: number }).maxRssMiB;
}

interface Row {
  readonly label: string;
  readonly fused: number;
  readonly fuseMs: number;
  readonly beforeMs: number;
  readonly afterMs: number;
  readonly maxDiff: number;
  readonly rssBefore: number;
  readonly rssAfter: number;
}

async function bench(label: string, unetDir: string, latent: number): Promise<Row> {
  const original = await loadFiles(unetDir, false);
  const fused = await loadFiles(unetDir, true);
  const a = await OnnxSession.create(original.files, { intraOpNumThreads: threads });
  const b = await OnnxSession.create(fused.files, { intraOpNumThreads: threads });
  const feeds = feedsFor(a, latent);
  const outA = (await a.run(feeds)).out_sample; // warm-up
  const outB = (await b.run(feeds)).out_sample;
  let maxDiff = 0;
  for (let i = 0; i < outA.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(outA.data[i] - outB.data[i]));
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < runs; i++) {
    await a.run(feeds);
    ta.push(a.lastRunMs);
    await b.run(feeds);
    tb.push(b.lastRunMs);
  }
  await a.dispose();
  await b.dispose();
  const rssBefore = peakRss(unetDir, latent, false);
  const rssAfter = peakRss(unetDir, latent, true);
  return { label, fused: fused.fusedCount, fuseMs: fused.fuseMs, beforeMs: median(ta), afterMs: median(tb), maxDiff, rssBefore, rssAfter };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1], Number(args[2]), args[3] === '1');
  const tiny = join(repoRoot, 'models', 'tiny-shapes', 'unet');
  const toy = join(ensureSd15Random('toy').dir, 'unet');
  console.log(`attention fusion: com.microsoft MultiHeadAttention, ${threads} thread(s), median of ${runs} runs, batch 2`);
  const rows: Row[] = [];
  for (const [label, dir, latent] of [
    ['tiny-shapes 128²', tiny, 16],
    ['toy SD 1.5 256²', toy, 32],
    ['toy SD 1.5 512²', toy, 64],
  ] as const) {
    const row = await bench(label, dir, latent);
    rows.push(row);
    console.log(
      `${row.label.padEnd(18)} fused ${String(row.fused).padStart(2)} (${row.fuseMs.toFixed(0)} ms)  ` +
        `before ${row.beforeMs.toFixed(1)} ms  after ${row.afterMs.toFixed(1)} ms  ×${(row.beforeMs / row.afterMs).toFixed(2)}  ` +
        `max|Δ| ${row.maxDiff.toExponential(1)}  peak RSS ${row.rssBefore.toFixed(0)} → ${row.rssAfter.toFixed(0)} MiB`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
