// `npm run bench:scale`: the engine at Stable Diffusion 1.5 scale on the random-weight model of
// tools/sd15_random (IMGPROMPT_SCALE=full, the default, or toy; generated into the cache when absent).
// One run prints one table: cold session creation per component, UNet time per step (batch 2, as with
// classifier-free guidance) at 512² and 256², the FLOPs of one UNet call counted from the config, the
// time that count would take at this machine's measured float32 matmul peak (onnxruntime, same threads),
// the ratio of step time to that bound, PyTorch eager on the same weights, peak RSS, and a second load.
// The levers are measured side by side: attention fusion on and off, the optimized-graph cache, and the
// weight-precision variants (int8 / fp16 / bf16, precision.ts). IMGPROMPT_THREADS sets onnxruntime's and
// PyTorch's threads (default: physical cores); BENCH_RUNS the timed runs per figure (median; default 3);
// BENCH_PRECISIONS which variants (default int8,fp16,bf16; empty for none).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxSession, SessionCache, type OnnxSessionOptions, type Precision, type PrecisionReport, acquireComponent, precisionPatch, physicalCoreCount, readOnnxModelFiles, UNet, floatTensor, elementCount } from '../src/engine/index';
import { ensureSd15Random, readRandomWeightsInfo, readUNetShape, repoRoot, scaleFromEnv, SD15_UNET_SHAPE, unetFlops } from '../test/scale/sd15Random';
import { timeMs } from './benchStats';
import { benchSdxl } from './bench-scale-sdxl';

const COMPONENTS = ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder'] as const;
const threads = Number(process.env.IMGPROMPT_THREADS) || physicalCoreCount();
const runs = Number(process.env.BENCH_RUNS ?? 3);
const python = process.env.IMGPROMPT_PYTHON ?? '/usr/bin/python3';
const MATMUL_N = 2048;
/** BENCH_PRECISIONS: the weight-precision variants to measure beside fp32 (default int8,fp16,bf16). */
const precisions = (process.env.BENCH_PRECISIONS ?? 'int8,fp16,bf16').split(',').map((p) => p.trim()).filter(Boolean);

function runPython(args: string[]): string {
  const result = spawnSync(python, ['-m', 'tools.sd15_random.bench_torch', ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
    maxBuffer: 1 << 24,
  });
  if (result.status !== 0) throw new Error(`bench_torch.py ${args[0]} failed: ${result.stderr}`);
  return result.stdout;
}

/** Session creation time of every component in a fresh cache (the second call finds the files in the OS cache). */
async function loadAll(modelDir: string, options: OnnxSessionOptions = {}): Promise<Record<string, number>> {
  const cache = new SessionCache();
  const out: Record<string, number> = {};
  try {
    for (const component of COMPONENTS) {
      const start = performance.now();
      const lease = await cache.acquire({ modelPath: join(modelDir, component, 'model.onnx'), options: { intraOpNumThreads: threads, ...options } });
      out[component] = performance.now() - start;
      lease.release();
    }
  } finally {
    await cache.clear();
  }
  return out;
}

/** float32 matmul GFLOPS of onnxruntime on this machine: a one-node MatMul graph, N×N by N×N. */
async function matmulGflops(dir: string): Promise<number> {
  const path = join(dir, 'matmul.onnx');
  runPython(['matmul-graph', path, String(MATMUL_N)]);
  const session = await OnnxSession.create(await readOnnxModelFiles(path), { intraOpNumThreads: threads });
  try {
    const dims = [MATMUL_N, MATMUL_N];
    const a = floatTensor(Float32Array.from({ length: elementCount(dims) }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5), dims);
    const ms = await timeMs(() => session.run({ a, b: a }), Math.max(runs, 5));
    return (2 * MATMUL_N ** 3) / ms / 1e6;
  } finally {
    await session.dispose();
  }
}

function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}

async function main(): Promise<void> {
  const scale = scaleFromEnv();
  const { dir: modelDir, generatedMs } = ensureSd15Random(scale);
  const info = readRandomWeightsInfo(modelDir);
  const shape = readUNetShape(modelDir);
  const work = mkdtempSync(join(tmpdir(), 'imgprompt-bench-scale-'));
  const rows: [string, string][] = [];
  const row = (label: string, value: string) => rows.push([label, value]);
  try {
    row('model', `sd15-random (${scale}), UNet ${info?.parameters.unet.toLocaleString('en-US')} parameters, seed ${info?.seed}`);
    if (generatedMs > 0) row('generated (make_model.sh)', fmtMs(generatedMs));
    row('threads (onnxruntime and PyTorch)', String(threads));

    const cold = await loadAll(modelDir);
    for (const c of COMPONENTS) row(`session creation, cold (first in process): ${c}`, fmtMs(cold[c]));

    const peak = await matmulGflops(work);
    row(`peak float32 matmul (onnxruntime, ${MATMUL_N}³)`, `${peak.toFixed(1)} GFLOPS`);

    // Lever: optimized-graph cache. The first load with it writes the entry; the second starts from it.
    const optimized = { optimizedCacheDir: join(work, 'optimized') };
    const storing = await loadAll(modelDir, optimized);
    const cached = await loadAll(modelDir, optimized);
    for (const c of COMPONENTS) row(`session creation with the optimized-graph cache: ${c}`, `${fmtMs(cached[c])} (first load, writing the entry: ${fmtMs(storing[c])})`);

    const hidden = shape.cross_attention_dim;
    const sizes = [
      [512, 64],
      [256, 32],
    ] as const;
    // Levers: attention fusion (the engine's default) against the graph as exported; weight precision
    // variants (precision.ts) of the fused graph. Session creation includes making the variant.
    const variants: { label: string; fuse: boolean; precision: Precision }[] = [
      { label: 'fp32, attention unfused', fuse: false, precision: 'fp32' },
      { label: 'fp32', fuse: true, precision: 'fp32' },
      ...(['int8', 'fp16', 'bf16'] as const).filter((p) => precisions.includes(p)).map((p) => ({ label: p, fuse: true, precision: p })),
    ];
    const stepMs: Record<string, Record<number, number>> = {};
    const createMs: Record<string, number> = {};
    const reports: Record<string, PrecisionReport> = {};
    for (const variant of variants) {
      const cache = new SessionCache();
      const started = performance.now();
      const lease = await acquireComponent(cache, join(modelDir, 'unet'), UNet, {
        options: { intraOpNumThreads: threads, fuseAttention: variant.fuse },
        patch: precisionPatch(variant.precision, (r) => (reports[variant.label] = r)),
      });
      createMs[variant.label] = performance.now() - started;
      stepMs[variant.label] = {};
      try {
        for (const [pixels, latent] of sizes) {
          const sampleDims = [2, 4, latent, latent];
          const sample = floatTensor(Float32Array.from({ length: elementCount(sampleDims) }, (_, i) => Math.sin(i)), sampleDims);
          const ctxDims = [2, 77, hidden];
          const context = floatTensor(Float32Array.from({ length: elementCount(ctxDims) }, (_, i) => Math.cos(i) * 0.5), ctxDims);
          stepMs[variant.label][pixels] = await timeMs(() => lease.component.predict({ sample, timestep: [999, 999], encoderHiddenStates: context }), runs);
        }
      } finally {
        lease.release();
        await cache.clear();
      }
    }
    // The int8 variant from the optimized-graph cache (first load writes the entry).
    let int8Cached: { store: number; hit: number } | undefined;
    if (precisions.includes('int8')) {
      const timeLoad = async () => {
        const cache = new SessionCache();
        const started = performance.now();
        const lease = await cache.acquire({ modelPath: join(modelDir, 'unet', 'model.onnx'), options: { intraOpNumThreads: threads, ...optimized }, patch: precisionPatch('int8') });
        const ms = performance.now() - started;
        lease.release();
        await cache.clear();
        return ms;
      };
      int8Cached = { store: await timeLoad(), hit: await timeLoad() };
    }

    const torchResult = JSON.parse(
      runPython(['unet', '--scale', scale, '--seed', String(info?.seed ?? 1234), '--sizes', sizes.map(([, l]) => `${l}x${l}`).join(','), '--batch', '2', '--runs', String(runs), '--threads', String(threads)]),
    ) as { unet_ms: Record<string, number>; mm_gflops: number };
    row(`peak float32 matmul (torch.mm, ${MATMUL_N}³)`, `${torchResult.mm_gflops.toFixed(1)} GFLOPS`);

    const peakGflops = Math.max(peak, torchResult.mm_gflops);
    for (const [pixels, latent] of sizes) {
      const flops = unetFlops(shape, latent, latent, 2).total;
      // The machine's peak: the better of onnxruntime's and torch.mm's measured matmul rate.
      const boundMs = flops / (peakGflops * 1e6);
      const eager = torchResult.unet_ms[`${latent}x${latent}`];
      const fp32 = stepMs.fp32[pixels];
      const unfused = stepMs['fp32, attention unfused'][pixels];
      row(`UNet FLOPs per call, ${pixels}² batch 2`, `${(flops / 1e12).toFixed(4)} TFLOP (${flops.toLocaleString('en-US')})`);
      row(`  FLOP bound at the measured peak (${peakGflops.toFixed(0)} GFLOPS)`, fmtMs(boundMs));
      row(`  PyTorch eager, same weights, fp32`, fmtMs(eager));
      row(`UNet step, ${pixels}² batch 2, fp32 (attention fused)`, `${fmtMs(fp32)}: ${(fp32 / boundMs).toFixed(2)}x the bound, ${(eager / fp32).toFixed(2)}x faster than PyTorch, ${(flops / fp32 / 1e6).toFixed(1)} GFLOPS`);
      row(`  fp32 without attention fusion`, `${fmtMs(unfused)} (fusion: ${(unfused / fp32).toFixed(2)}x faster)`);
      for (const v of variants.filter((x) => x.precision !== 'fp32')) {
        const ms = stepMs[v.label][pixels];
        row(`  ${v.label}`, `${fmtMs(ms)}: ${(fp32 / ms).toFixed(2)}x fp32, ${(eager / ms).toFixed(2)}x faster than PyTorch fp32`);
      }
    }
    for (const v of variants) {
      const report = reports[v.label];
      const what = report && report.precision !== 'fp32' ? ` (${report.tensors} ${report.precision === 'int8' ? `MatMuls quantized, ${report.biasesFolded} biases folded` : 'weight tensors rounded'}, ${report.parameters.toLocaleString('en-US')} parameters changed)` : '';
      row(`UNet session creation, ${v.label}, no cache`, `${fmtMs(createMs[v.label])}${what}`);
    }
    if (int8Cached) row('UNet session creation, int8, from the optimized-graph cache', `${fmtMs(int8Cached.hit)} (first load, writing the entry: ${fmtMs(int8Cached.store)})`);

    if (scale !== 'full') {
      const sd15 = unetFlops(SD15_UNET_SHAPE, 64, 64, 2).total;
      row('for reference: SD 1.5 UNet FLOPs, 512² batch 2', `${(sd15 / 1e12).toFixed(4)} TFLOP (${sd15.toLocaleString('en-US')})`);
    }
    const second = await loadAll(modelDir);
    for (const c of COMPONENTS) row(`session creation, second load: ${c}`, fmtMs(second[c]));
    row('peak RSS (this process)', `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const width = Math.max(...rows.map(([l]) => l.length));
  console.log(`imgprompt bench:scale — ${new Date().toISOString().slice(0, 10)}, medians of ${runs} runs after one warm-up`);
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`);
}

// `-- --family sdxl`: the SDXL UNet at 1024² instead (scripts/bench-scale-sdxl.ts).
const familyArg = process.argv.indexOf('--family');
const family = familyArg >= 0 ? process.argv[familyArg + 1] : 'sd15';
(family === 'sdxl' ? benchSdxl() : family === 'sd15' ? main() : Promise.reject(new Error(`--family ${family}: expected sd15 or sdxl`))).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
