// bench:pool — 24 scenes rendered over 1, 2 and 3 loopback ComfyUI servers (each its own process rendering
// with our engine on the tiny model) through the render pool: wall time per pool size and the speed-up
// over one server. The servers share this machine's cores, so the speed-up is bounded by them; the
// core count is printed beside the figures.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ComfyUIBackend, createRenderService, executePool, type PlannedJob } from '../src/engine/index';

const SCENES = Number(process.env.BENCH_POOL_SCENES ?? 24);
const STEPS = Number(process.env.BENCH_POOL_STEPS ?? 12);
const repoRoot = resolve(__dirname, '..');

function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'bench-pool-server.ts')], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, OMP_NUM_THREADS: '1' } });
  return new Promise((resolvePort, reject) => {
    let text = '';
    child.stdout?.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /port (\d+)/.exec(text);
      if (m) resolvePort({ child, url: `http://127.0.0.1:${m[1]}` });
    });
    child.once('exit', (code) => reject(new Error(`bench server exited (${code})`)));
  });
}

async function main(): Promise<void> {
  const project = mkdtempSync(join(tmpdir(), 'imgprompt-bench-pool-'));
  mkdirSync(join(project, '.git'));
  const service = await createRenderService({ threads: 1 });
  const servers = await Promise.all([startServer(), startServer(), startServer()]);
  try {
    const jobs: PlannedJob[] = [];
    for (let i = 0; i < SCENES; i++) {
      const file = join(project, `scene-${i}.imgprompt`);
      writeFileSync(file, `model: tiny-shapes\nprompt: a large red circle on the left, blue background, figure ${i}\nseed: ${i}\nsteps: ${STEPS}\n`);
      jobs.push(...(await service.plan({ file, context: { projectRoot: project, builtinModelsDir: join(repoRoot, 'models') } })).jobs);
    }
    // Warm every server once (model load), so the figures compare rendering, not start-up.
    await executePool(jobs.slice(0, 3), servers.map((s, i) => ({ label: `s${i + 1}`, backend: new ComfyUIBackend({ name: `s${i + 1}`, api: 'comfyui', url: s.url }), concurrency: 1 })), { force: true });
    const rows: { n: number; wallMs: number; perServer: string }[] = [];
    for (const n of [1, 2, 3]) {
      const members = servers.slice(0, n).map((s, i) => ({ label: `s${i + 1}`, backend: new ComfyUIBackend({ name: `s${i + 1}`, api: 'comfyui', url: s.url }), concurrency: 1 }));
      const { summary } = await executePool(jobs, members, { force: true });
      if (summary.failed) throw new Error(`${summary.failed} renders failed with ${n} servers`);
      rows.push({ n, wallMs: summary.wallMs, perServer: summary.members.map((m) => `${m.label}:${m.rendered}`).join(' ') });
    }
    console.log(`bench:pool — ${SCENES} scenes (tiny-shapes, ${jobs[0].job.recipe.width}x${jobs[0].job.recipe.height}, ${STEPS} steps) over loopback ComfyUI servers`);
    console.log(`machine: ${cpus().length} CPU cores shared by the servers and this client (servers render with 1 onnxruntime thread each); load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} (above the core count, other work is competing and caps the speed-up)`);
    console.log('servers  wall (s)  speed-up  figures per server');
    for (const r of rows) console.log(`${String(r.n).padStart(7)}  ${(r.wallMs / 1000).toFixed(2).padStart(8)}  ${(rows[0].wallMs / r.wallMs).toFixed(2).padStart(7)}x  ${r.perServer}`);
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    await service.dispose();
    rmSync(project, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
