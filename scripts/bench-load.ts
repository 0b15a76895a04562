// Session creation with and without the optimized-graph cache, and UNet call time by thread settings.
// `nice -n 19 node --import tsx scripts/bench-load.ts [model folder...]`; default: models/tiny-shapes and
// the toy random SD 1.5 (tools/sd15_random, generated into the cache when absent); `full` names the
// full-size one. Per component: read + create without a cache, the first load with a cache (writes the
// entry; a fresh cache folder each time) and a cached load, medians of BENCH_RUNS (default 5); then one
// UNet call from a cold and from a cached session, compared bit for bit. Last, the UNet of the first
// folder that is not tiny-shapes at 256² (batch 2) with 1 and 2 intra-op threads, spinning off and on,
// the four sessions called in turn so load from other work affects them alike. Components the cache skips
// by policy (MAX_INLINE_BYTES_TO_CACHE) show only the uncached time. IMGPROMPT_THREADS: the
// threads for the load figures (default: physical cores); BENCH_SKIP_THREADS=1 skips the thread table,
// BENCH_SKIP_LOADS=1 the load tables.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxSession, ONNXRUNTIME_VERSION, type OnnxSessionOptions } from '../src/engine/onnx/onnxSession';
import { readOnnxModelFiles } from '../src/engine/onnx/onnxModelFiles';
import { MAX_INLINE_BYTES_TO_CACHE, optimizedModelKey } from '../src/engine/onnx/optimizedModelCache';
import { physicalCoreCount } from '../src/engine/onnx/cpuCores';
import { UNet } from '../src/engine/model/unet';
import { elementCount, floatTensor, type FloatTensor } from '../src/engine/onnx/tensor';
import { ensureSd15Random, repoRoot } from '../test/scale/sd15Random';
import { median } from './benchStats';

const COMPONENTS = ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder'] as const;
const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
const threads = Number(process.env.IMGPROMPT_THREADS) || physicalCoreCount();
const work = mkdtempSync(join(tmpdir(), 'imgprompt-bench-load-'));

const fmt = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

function folderBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? folderBytes(p) : statSync(p).size;
  }
  return total;
}

const cacheBytes = (dir: string): number => (existsSync(dir) ? folderBytes(dir) : 0);

/** Reads the component's files and creates its session, as SessionCache does; returns the session and the time. */
async function load(modelPath: string, options: OnnxSessionOptions): Promise<{ session: OnnxSession; ms: number }> {
  const start = performance.now();
  const session = await OnnxSession.create(await readOnnxModelFiles(modelPath), options);
  return { session, ms: performance.now() - start };
}

async function timedLoads(modelPath: string, options: () => OnnxSessionOptions, expected: string, after?: () => void): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { session, ms } = await load(modelPath, options());
    await session.dispose();
    if (session.optimizedCache !== expected) throw new Error(`${modelPath}: expected cache outcome '${expected}', got '${session.optimizedCache}'`);
    times.push(ms);
    after?.();
  }
  return times;
}

function unetInput(session: OnnxSession, latent: number, configDir: string): { sample: FloatTensor; context: FloatTensor } {
  let hidden = session.input('encoder_hidden_states')?.shape[2];
  if (typeof hidden !== 'number') hidden = (JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8')) as { cross_attention_dim: number }).cross_attention_dim;
  const sampleDims = [2, 4, latent, latent];
  const ctxDims = [2, 77, hidden];
  return {
    sample: floatTensor(Float32Array.from({ length: elementCount(sampleDims) }, (_, i) => Math.sin(i)), sampleDims),
    context: floatTensor(Float32Array.from({ length: elementCount(ctxDims) }, (_, i) => Math.cos(i) * 0.5), ctxDims),
  };
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((v, i) => v === y[i]);
}

async function benchModel(modelDir: string): Promise<void> {
  console.log(`\n## ${modelDir}\n`);
  console.log(`median of ${runs}, ${threads} intra-op threads; 'first load' writes the cache entry into an empty folder\n`);
  console.log('| component | source | no cache | first load (stores) | cached load | speed-up | entry |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const cacheDir = join(work, `cache-${Date.now()}`);
  for (const component of COMPONENTS) {
    const modelPath = join(modelDir, component, 'model.onnx');
    if (!existsSync(modelPath)) continue;
    const files = await readOnnxModelFiles(modelPath);
    const sourceBytes = files.modelIdentity.size + files.externalData.reduce((n, f) => n + f.size, 0);
    const base: OnnxSessionOptions = { intraOpNumThreads: threads };
    // One load first, so the files sit in the OS cache for every mode alike.
    await (await load(modelPath, base)).session.dispose();
    const plain = await timedLoads(modelPath, () => base, 'off');
    if (optimizedModelKey({ files, runtimeVersion: ONNXRUNTIME_VERSION, graphOptimizationLevel: 'all', deterministic: true }) === undefined) {
      console.log(`| ${component} | ${mb(sourceBytes)} | ${fmt(median(plain))} | not cached (weights inline in a model.onnx over ${mb(MAX_INLINE_BYTES_TO_CACHE)}) | | | |`);
      continue;
    }
    let storeDir = '';
    const store = await timedLoads(
      modelPath,
      () => {
        storeDir = join(work, `store-${component}-${Math.random().toString(36).slice(2)}`);
        return { ...base, optimizedCacheDir: storeDir };
      },
      'stored',
      () => rmSync(storeDir, { recursive: true, force: true }),
    );
    const before = cacheBytes(cacheDir);
    await (await load(modelPath, { ...base, optimizedCacheDir: cacheDir })).session.dispose();
    const entryBytes = cacheBytes(cacheDir) - before;
    const hit = await timedLoads(modelPath, () => ({ ...base, optimizedCacheDir: cacheDir }), 'hit');
    const p = median(plain);
    const h = median(hit);
    console.log(`| ${component} | ${mb(sourceBytes)} | ${fmt(p)} | ${fmt(median(store))} | ${fmt(h)} | ${(p / h).toFixed(1)}x | ${mb(entryBytes)} |`);
  }

  const unetPath = join(modelDir, 'unet', 'model.onnx');
  const cold = await load(unetPath, { intraOpNumThreads: threads });
  const cached = await load(unetPath, { intraOpNumThreads: threads, optimizedCacheDir: cacheDir });
  try {
    const latent = modelDir.includes('tiny-shapes') ? 16 : 32;
    const { sample, context } = unetInput(cold.session, latent, join(modelDir, 'unet'));
    const input = { sample, timestep: [999, 999], encoderHiddenStates: context };
    const a = await new UNet(cold.session).predict(input);
    const b = await new UNet(cached.session).predict(input);
    console.log(
      `\nUNet output (latent ${latent}², batch 2), cold vs cached session (${cached.session.optimizedCache}): ${sameBits(a.data, b.data) ? 'bit-identical' : 'DIFFERENT'}; ` +
        `first call ${fmt(cold.session.lastRunMs)} cold, ${fmt(cached.session.lastRunMs)} cached`,
    );
  } finally {
    await cold.session.dispose();
    await cached.session.dispose();
  }
}

async function benchThreads(modelDir: string): Promise<void> {
  const unetPath = join(modelDir, 'unet', 'model.onnx');
  const cacheDir = join(work, 'threads-cache');
  const configs = [1, 2].flatMap((t) => [false, true].map((spin) => ({ intraOpNumThreads: t, allowSpinning: spin })));
  const sessions: { label: string; unet: UNet; times: number[] }[] = [];
  try {
    for (const c of configs) {
      const { session } = await load(unetPath, { ...c, optimizedCacheDir: cacheDir });
      sessions.push({ label: `${c.intraOpNumThreads} thread${c.intraOpNumThreads > 1 ? 's' : ''}, spinning ${c.allowSpinning ? 'on' : 'off'}`, unet: new UNet(session), times: [] });
    }
    const { sample, context } = unetInput(sessions[0].unet.session, 32, join(modelDir, 'unet'));
    const input = { sample, timestep: [999, 999], encoderHiddenStates: context };
    for (const s of sessions) await s.unet.predict(input); // warm-up
    const rounds = Math.max(runs, 7);
    for (let r = 0; r < rounds; r++) {
      // Each round starts one setting later: spinning threads keep a core busy for a while after their
      // call, which slows whichever call follows, so every setting follows every other equally often.
      for (const s of sessions.map((_, i) => sessions[(i + r) % sessions.length])) {
        const start = performance.now();
        await s.unet.predict(input);
        s.times.push(performance.now() - start);
      }
    }
    console.log(`\n## UNet call by thread settings: ${modelDir}, 256² (latent 32², batch 2), ${rounds} rounds, settings in rotating order\n`);
    console.log('| setting | median | min | max |');
    console.log('| --- | ---: | ---: | ---: |');
    for (const s of sessions) console.log(`| ${s.label} | ${fmt(median(s.times))} | ${fmt(Math.min(...s.times))} | ${fmt(Math.max(...s.times))} |`);
  } finally {
    for (const s of sessions) await s.unet.session.dispose();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const dirs = (args.length > 0 ? args : [join(repoRoot, 'models', 'tiny-shapes'), 'toy']).map((a) =>
    a === 'toy' || a === 'full' ? ensureSd15Random(a).dir : a,
  );
  console.log(`onnxruntime ${ONNXRUNTIME_VERSION}, ${physicalCoreCount()} physical cores`);
  try {
    if (process.env.BENCH_SKIP_LOADS !== '1') for (const dir of dirs) await benchModel(dir);
    const sd = dirs.find((d) => !d.includes('tiny-shapes'));
    if (sd && process.env.BENCH_SKIP_THREADS !== '1') await benchThreads(sd);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
