// `npm run bench`: per-stage medians of the engine on the embedded model, the engine's own overhead
// (total − Σ onnxruntime time), a cold `imgprompt render` from process start, and the same model run by
// PyTorch in the same run (when Debian's python3-torch is installed), as a ratio. Figures only: the
// machine is shared and noisy, so everything is a median over repeated runs measured together.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRenderService, encodePixelsToPng, loadCLIPTokenizer, type RenderedJob, type RenderService } from '../src/engine/index';
import { median } from './benchStats';
import { provenanceRows } from './benchProvenance';

const root = resolve(__dirname, '..');
const model = join(root, 'models', 'tiny-shapes');
const runs = Number(process.env.BENCH_RUNS ?? 9);
const steps = 20;

function ms(value: number): string {
  return `${value.toFixed(value < 10 ? 2 : 1)} ms`;
}

async function main(): Promise<void> {
  if (!existsSync(model)) throw new Error(`models/tiny-shapes is missing`);
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-bench-'));
  try {
    const scene = join(dir, 'bench.imgprompt');
    const text = `model: tiny-shapes\nprompt: a large red circle on the left, blue background\nseed: 42\nsampler: euler\nsteps: ${steps}\nguidance: 7.5\n`;
    writeFileSync(scene, text);
    const engine = await createRenderService({ threads: Number(process.env.IMGPROMPT_THREADS) || undefined });
    const { job } = (await engine.plan({ file: scene, text, context: { projectRoot: dir, builtinModelsDir: join(root, 'models') } })).jobs[0];
    console.log(`imgprompt bench: tiny-shapes ${job.recipe.width}x${job.recipe.height}, ${steps} steps euler, CFG 7.5 (batch 2), ${runs} runs`);

    // Cold: first render in this process (session creation included).
    const coldStart = performance.now();
    await engine.render(job);
    const coldMs = performance.now() - coldStart;

    const results: RenderedJob[] = [];
    for (let i = 0; i < runs; i++) results.push(await engine.render(job));
    // The same renders with the prompt cache emptied each time (what PyTorch's loop below does).
    const uncachedResults: RenderedJob[] = [];
    for (let i = 0; i < runs; i++) {
      engine.backend.forgetPrompts?.();
      uncachedResults.push(await engine.render(job));
    }
    const uncached = uncachedResults.map((r) => r.timings.totalMs);
    const textEncoderMs = median(uncachedResults.map((r) => r.timings.stages.textEncoder ?? 0));
    const stage = (name: keyof RenderedJob['timings']['stages']) => median(results.map((r) => r.timings.stages[name] ?? 0));
    const total = median(results.map((r) => r.timings.totalMs));
    const ort = median(results.map((r) => r.timings.onnxRuntimeMs));
    const overheads = results.map((r) => r.timings.totalMs - r.timings.onnxRuntimeMs);
    const unetCall = median(results.flatMap((r) => r.timings.unetCalls));

    // The prompt cache makes warm renders skip the text encoder; time it (and the tokenizer) directly.
    const tokenizer = await loadCLIPTokenizer(join(model, 'tokenizer'));
    const tokenizeTimes: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      tokenizer.encodePrompt(`a large red circle on the left, blue background ${i}`);
      tokenizeTimes.push(performance.now() - t);
    }

    const rows: [string, string][] = [
      ['tokenize (uncached prompt)', ms(median(tokenizeTimes))],
      ['UNet call (batch 2)', ms(unetCall)],
      [`UNet, all ${steps} calls`, ms(stage('unet'))],
      ['scheduler + CFG, all steps', ms(stage('scheduler'))],
      ['VAE decoder', ms(stage('vaeDecoder'))],
      ['PNG + metadata', ms(stage('png'))],
      ['text encoder (both prompts)', ms(textEncoderMs)],
      ['total (warm, prompt cached)', ms(total)],
      ['total (warm, prompts re-encoded)', ms(median(uncached))],
      ['Σ onnxruntime run time', ms(ort)],
      ['engine overhead (total − onnxruntime)', `${ms(median(overheads))} = ${((median(overheads) / total) * 100).toFixed(1)}% of total (target ≤ 5%)`],
      ['first render in process (cold sessions)', ms(coldMs)],
    ];
    rows.push(...(await adapterRows(engine, dir, total)));
    rows.push(...(await provenanceRows(job.metadata, dir, total, runs)));
    await engine.dispose();

    // Cold CLI: a fresh process renders one scene (--force), as a user's first `imgprompt render` does.
    const cli = join(root, 'out', 'cli.js');
    if (existsSync(cli)) {
      const cliTimes: number[] = [];
      for (let i = 0; i < Math.min(runs, 5); i++) {
        const t = performance.now();
        const run = spawnSync(process.execPath, [cli, 'render', '--force', scene], { encoding: 'utf8', env: { ...process.env, IMGPROMPT_CACHE_DIR: join(dir, 'cache'), IMGPROMPT_CONFIG_DIR: join(dir, 'config') } });
        cliTimes.push(performance.now() - t);
        if (run.status !== 0) throw new Error(`imgprompt render failed: ${run.stderr}`);
      }
      rows.push(['cold `imgprompt render` from process start', `${ms(median(cliTimes))} (target ≤ 2500 ms)`]);
    }
    rows.push(['warm 20-step CFG render at native size', `${ms(total)} (target ≤ 500 ms)`]);

    // PyTorch eager on the same weights, same algorithm, same machine, same run.
    const python = '/usr/bin/python3';
    const torchBench = join(root, 'tools', 'tiny_model', 'bench_torch.py');
    if (existsSync(python) && existsSync(torchBench)) {
      const run = spawnSync(python, ['-m', 'tools.tiny_model.bench_torch', '--steps', String(steps), '--runs', String(runs)], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
      });
      const line = run.stdout.trim().split('\n').pop() ?? '';
      if (run.status === 0 && line.startsWith('{')) {
        const torch = JSON.parse(line) as { median_ms: number; unet_call_ms: number; threads: number };
        rows.push([`PyTorch eager, same render (${torch.threads} threads)`, ms(torch.median_ms)]);
        rows.push(['PyTorch UNet call (batch 2)', ms(torch.unet_call_ms)]);
        rows.push(['speed-up over PyTorch (same work: prompts re-encoded)', `${(torch.median_ms / median(uncached)).toFixed(2)}x`]);
        rows.push(['speed-up over PyTorch (UNet call)', `${(torch.unet_call_ms / unetCall).toFixed(2)}x`]);
      } else {
        rows.push(['PyTorch eager', `not measured (${(run.stderr || line).trim().split('\n').pop()})`]);
      }
    } else {
      rows.push(['PyTorch eager', 'not measured (python3-torch or tools/tiny_model/bench_torch.py missing)']);
    }

    const width = Math.max(...rows.map(([k]) => k.length));
    for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** LoRA merge time, the cost of a cached patched session, and ControlNet time per step (when the model ships them). */
async function adapterRows(engine: RenderService, dir: string, plainTotal: number): Promise<[string, string][]> {
  const lora = join(model, 'loras', 'outline.safetensors');
  const controlnet = join(model, 'controlnet', 'canny', 'model.onnx');
  if (!existsSync(lora) || !existsSync(controlnet)) return [['adapters', 'not measured (the model ships no loras/outline.safetensors or controlnet/canny)']];
  const jobFor = async (extra: string, name: string) => {
    const text = `model: tiny-shapes\nprompt: outline, a large red circle on the left, blue background\nseed: 42\nsampler: euler\nsteps: ${steps}\nguidance: 7.5\n${extra}`;
    const file = join(dir, name);
    writeFileSync(file, text);
    const { job } = (await engine.plan({ file, text, context: { projectRoot: dir, builtinModelsDir: join(root, 'models') } })).jobs[0];
    return job;
  };
  // Every new weight is a new patch key: the UNet and text encoder are merged and their sessions created again.
  const patchMs: number[] = [];
  const patchedLoadMs: number[] = [];
  for (let i = 0; i < Math.min(runs, 5); i++) {
    const result = await engine.render(await jobFor(`loras:\n  - file: outline\n    weight: ${(0.5 + i / 10).toFixed(1)}\n`, `lora-${i}.imgprompt`));
    patchMs.push(result.timings.stages.lora ?? 0);
    patchedLoadMs.push(result.timings.stages.load ?? 0);
  }
  const cached = await jobFor('loras:\n  - file: outline\n    weight: 0.5\n', 'lora-cached.imgprompt');
  const hitLoad: number[] = [];
  const plainLoad: number[] = [];
  const plain = await jobFor('', 'plain.imgprompt');
  for (let i = 0; i < runs; i++) {
    hitLoad.push((await engine.render(cached)).timings.stages.load ?? 0);
    plainLoad.push((await engine.render(plain)).timings.stages.load ?? 0);
  }
  // ControlNet: a canny hint drawn from the plain render.
  const hintFile = join(dir, 'hint.png');
  const plainImage = (await engine.render(plain)).image;
  writeFileSync(hintFile, await encodePixelsToPng({ ...plainImage, channels: 3 }));
  const controlled = await jobFor('control:\n  - type: canny\n    image: hint.png\n', 'control.imgprompt');
  await engine.render(controlled);
  const controlResults: RenderedJob[] = [];
  for (let i = 0; i < runs; i++) controlResults.push(await engine.render(controlled));
  const controlStep = median(controlResults.map((r) => (r.timings.stages.controlnet ?? 0) / steps));
  const controlTotal = median(controlResults.map((r) => r.timings.totalMs));
  return [
    ['LoRA merge (outline, UNet + text encoder)', `${ms(median(patchMs))} (load stage incl. session creation ${ms(median(patchedLoadMs))})`],
    ['load stage, patched sessions cached', `${ms(median(hitLoad))} (no LoRA: ${ms(median(plainLoad))})`],
    ['ControlNet call per step (batch 2)', ms(controlStep)],
    ['render with a canny hint', `${ms(controlTotal)} = +${ms((controlTotal - plainTotal) / steps)} per step over no hint (incl. hint preprocessing ${ms(median(controlResults.map((r) => r.timings.stages.hint ?? 0)))})`],
  ];
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
