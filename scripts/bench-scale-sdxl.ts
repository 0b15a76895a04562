// `npm run bench:scale -- --family sdxl`: one SDXL UNet call at 128×128 latents (1024², batch 2 as with
// classifier-free guidance) on the seeded random-weight model of tools/sdxl_random (IMGPROMPT_SCALE=full,
// the default: SDXL base's architecture, 2.57 B parameters, generated into the cache on first use as a
// float16 single file (make_model --only checkpoints, ~7 GB) and converted by the checkpoint builder; or
// toy, the torch-exported ONNX folder). Prints: cold and cached session creation of the UNet, the call's
// time (median of BENCH_RUNS after a warm-up), its FLOPs counted from the config, the bound at this
// machine's measured float32 matmul peak and the ratio to it, PyTorch eager on the same weights (run in
// its own process after the ONNX side has released its memory: both at full size would not fit beside
// each other on a 24 GiB machine), and peak RSS. Targets as for SD 1.5: ≤ 1.2× the bound, ≥ 2.5× PyTorch,
// cached load ≤ 3 s. The UNet's weights are mapped from the file, not packed (onnxSession.ts,
// PREPACK_MAX_PARAMETERS); the timed calls run on the session from the optimized-graph cache, and the
// first of them (untimed warm-up elsewhere) is reported apart: it pages the mapped weights in.
// BENCH_SDXL_PACKED=1 (the default; 0 skips it) also loads and calls the UNet with its weights packed at
// load, as before, for the comparison in the same run; BENCH_SDXL_INT8=1 (the default; 0 skips it) the
// int8 variant (precision.ts), its weights in an overlay file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireComponent, componentModelPath, elementCount, floatTensor, OnnxSession, physicalCoreCount, precisionPatch, readOnnxModelFiles, SessionCache, UNet, usedWeightBytes, type Precision, type PrecisionReport } from '../src/engine/index';
import { repoRoot, unetFlops, type UNetShape } from '../test/scale/sd15Random';
import { convertedSdxlRandomFull, ensureSdxlRandom } from '../test/scale/sdxlRandom';
import { median, timeMs } from './benchStats';

const threads = Number(process.env.IMGPROMPT_THREADS) || physicalCoreCount();
const runs = Number(process.env.BENCH_RUNS ?? 3);
const comparePacked = process.env.BENCH_SDXL_PACKED !== '0';
const measureInt8 = process.env.BENCH_SDXL_INT8 !== '0';
const python = process.env.IMGPROMPT_PYTHON ?? '/usr/bin/python3';
const LATENT = 128;
const MATMUL_N = 2048;

function runPython(module: string, args: string[]): string {
  const result = spawnSync(python, ['-m', module, ...args], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, maxBuffer: 1 << 24 });
  if (result.status !== 0) throw new Error(`${module} ${args[0] ?? ''} failed: ${result.stderr}`);
  return result.stdout;
}

function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}

async function unetLoadMs(unetDir: string, optimizedCacheDir?: string, prepackWeights?: boolean): Promise<number> {
  const cache = new SessionCache();
  const started = performance.now();
  const lease = await cache.acquire({ modelPath: join(unetDir, 'model.onnx'), options: { intraOpNumThreads: threads, prepackWeights, ...(optimizedCacheDir ? { optimizedCacheDir } : {}) } });
  const ms = performance.now() - started;
  lease.release();
  await cache.clear();
  return ms;
}

export async function benchSdxl(): Promise<void> {
  const scale = process.env.IMGPROMPT_SCALE === 'toy' ? 'toy' : 'full';
  const started = performance.now();
  // Full size: the float16 single file converted by the checkpoint builder (SDXL base's UNet does not fit
  // torch.onnx.export in 24 GiB); toy: the torch-exported optimum folder.
  const files = ensureSdxlRandom(scale, scale === 'full' ? 'checkpoints' : undefined);
  const generatedMs = performance.now() - started;
  const converted = scale === 'full' ? await convertedSdxlRandomFull() : undefined;
  const modelDir = converted?.folder ?? files.onnx;
  const made = JSON.parse(readFileSync(join(files.root, 'sdxl_random.json'), 'utf8')) as { seed: number; parameters: Record<string, number> };
  const config = JSON.parse(readFileSync(join(modelDir, 'unet', 'config.json'), 'utf8')) as UNetShape & { cross_attention_dim: number };
  const projection = (JSON.parse(readFileSync(join(modelDir, 'text_encoder_2', 'config.json'), 'utf8')) as { projection_dim: number }).projection_dim;
  const work = mkdtempSync(join(tmpdir(), 'imgprompt-bench-sdxl-'));
  const rows: [string, string][] = [];
  const row = (label: string, value: string) => rows.push([label, value]);
  try {
    row('model', `sdxl-random (${scale}), UNet ${made.parameters.unet.toLocaleString('en-US')} parameters, seed ${made.seed}`);
    if (generatedMs > 1000) row('generated (tools/sdxl_random/make_model.py)', fmtMs(generatedMs));
    if (converted) {
      const unetFiles = await readOnnxModelFiles(await componentModelPath(join(modelDir, 'unet')));
      const used = usedWeightBytes(unetFiles);
      const written = statSync(join(modelDir, 'unet', 'model.onnx_data')).size;
      row('UNet source', `float16 single file ${(statSync(files.singleFile).size / 1e9).toFixed(2)} GB, converted: the UNet uses ${(used / 1e9).toFixed(2)} GB of weights, ${((used - written) / 1e9).toFixed(2)} GB of them read in place from the linked checkpoint${converted.convertMs > 1000 ? ` (conversion ${fmtMs(converted.convertMs)})` : ''}`);
    }
    row('threads (onnxruntime and PyTorch)', String(threads));
    const unetDir = join(modelDir, 'unet');
    row('UNet session creation, cold', fmtMs(await unetLoadMs(unetDir)));
    const optimized = join(work, 'optimized');
    const storing = await unetLoadMs(unetDir, optimized);
    row('UNet session creation, optimized-graph cache', `${fmtMs(await unetLoadMs(unetDir, optimized))} (weights mapped; first load, writing the entry: ${fmtMs(storing)})`);
    if (comparePacked) row('  the same, weights packed at load (before)', fmtMs(await unetLoadMs(unetDir, optimized, true)));

    // The machine's float32 matmul peak through onnxruntime (a one-node MatMul graph).
    const graph = join(work, 'matmul.onnx');
    runPython('tools.sd15_random.bench_torch', ['matmul-graph', graph, String(MATMUL_N)]);
    const mm = await OnnxSession.create(await readOnnxModelFiles(graph), { intraOpNumThreads: threads });
    const a = floatTensor(Float32Array.from({ length: MATMUL_N * MATMUL_N }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5), [MATMUL_N, MATMUL_N]);
    const ortPeak = (2 * MATMUL_N ** 3) / (await timeMs(() => mm.run({ a, b: a }), Math.max(runs, 5))) / 1e6;
    await mm.dispose();

    const dims = [2, 4, LATENT, LATENT];
    const sample = floatTensor(Float32Array.from({ length: elementCount(dims) }, (_, i) => Math.sin(i)), dims);
    const ctxDims = [2, 77, config.cross_attention_dim];
    const context = floatTensor(Float32Array.from({ length: elementCount(ctxDims) }, (_, i) => Math.cos(i) * 0.5), ctxDims);
    const extra = {
      text_embeds: floatTensor(Float32Array.from({ length: 2 * projection }, (_, i) => Math.sin(i * 0.37)), [2, projection]),
      time_ids: floatTensor(Float32Array.from([1024, 1024, 0, 0, 1024, 1024, 1024, 1024, 0, 0, 1024, 1024]), [2, 6]),
    };
    let int8Report: PrecisionReport | undefined;
    /** The first call of a session from the cache entry, then the median of `runs` more. */
    const calls = async (prepackWeights?: boolean, precision: Precision = 'fp32'): Promise<{ first: number; median: number; out: Float32Array; createMs: number }> => {
      const cache = new SessionCache();
      try {
        const creating = performance.now();
        const lease = await acquireComponent(cache, unetDir, UNet, {
          options: { intraOpNumThreads: threads, optimizedCacheDir: optimized, prepackWeights },
          patch: precisionPatch(precision, (r) => (int8Report = r)),
        });
        const createMs = performance.now() - creating;
        try {
          const call = () => lease.component.predict({ sample, timestep: [999, 999], encoderHiddenStates: context, extra });
          let started = performance.now();
          const out = (await call()).data;
          const first = performance.now() - started;
          const times: number[] = [];
          for (let i = 0; i < runs; i++) {
            started = performance.now();
            await call();
            times.push(performance.now() - started);
          }
          return { first, median: median(times), out, createMs };
        } finally {
          lease.release();
        }
      } finally {
        await cache.clear();
      }
    };
    const mapped = await calls();
    const callMs = mapped.median;
    const packed = comparePacked ? await calls(true) : undefined;
    const int8 = measureInt8 ? await calls(undefined, 'int8') : undefined;
    row('peak RSS (this process, ONNX side)', `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);

    const torch = JSON.parse(
      runPython('tools.sdxl_random.bench_torch', ['--scale', scale, '--seed', String(made.seed), '--size', `${LATENT}x${LATENT}`, '--batch', '2', '--runs', String(runs), '--threads', String(threads), ...(converted ? ['--half-rounded'] : [])]),
    ) as { unet_ms: number; mm_gflops: number };
    const peak = Math.max(ortPeak, torch.mm_gflops);
    const flops = unetFlops(config, LATENT, LATENT, 2).total;
    const boundMs = flops / (peak * 1e6);
    row(`peak float32 matmul (onnxruntime / torch.mm, ${MATMUL_N}³)`, `${ortPeak.toFixed(1)} / ${torch.mm_gflops.toFixed(1)} GFLOPS`);
    row(`UNet FLOPs per call, ${LATENT * 8}² batch 2`, `${(flops / 1e12).toFixed(3)} TFLOP (${flops.toLocaleString('en-US')})`);
    row(`  FLOP bound at the measured peak (${peak.toFixed(0)} GFLOPS)`, fmtMs(boundMs));
    row('  PyTorch eager, same weights, fp32', fmtMs(torch.unet_ms));
    row(`UNet call, ${LATENT * 8}² batch 2, fp32`, `${fmtMs(callMs)}: ${(callMs / boundMs).toFixed(2)}x the bound, ${(torch.unet_ms / callMs).toFixed(2)}x faster than PyTorch`);
    row('  first call after the cached load (pages the weights in)', fmtMs(mapped.first));
    if (int8) {
      const r = int8Report as PrecisionReport | undefined;
      row(`UNet call, ${LATENT * 8}² batch 2, int8 (precision: int8)`, `${fmtMs(int8.median)}: ${(callMs / int8.median).toFixed(2)}x fp32, ${(torch.unet_ms / int8.median).toFixed(2)}x faster than PyTorch fp32`);
      row('  int8 session creation when made (quantize, optimize, store)', `${fmtMs(int8.createMs)}${r ? ` (${r.tensors} MatMuls quantized, ${r.parameters.toLocaleString('en-US')} parameters)` : ''}`);
    }
    if (packed) {
      let worst = 0;
      for (let i = 0; i < packed.out.length; i++) worst = Math.max(worst, Math.abs(packed.out[i] - mapped.out[i]));
      row('  the same call, weights packed at load (before)', `${fmtMs(packed.median)} (${(packed.median / callMs).toFixed(2)}x the mapped call; first call ${fmtMs(packed.first)}; outputs differ by at most ${worst.toExponential(2)})`);
    }
    row('UNet session creation, second load', fmtMs(await unetLoadMs(unetDir)));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const width = Math.max(...rows.map(([l]) => l.length));
  console.log(`imgprompt bench:scale --family sdxl — ${new Date().toISOString().slice(0, 10)}, medians of ${runs} runs after one warm-up`);
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`);
}
