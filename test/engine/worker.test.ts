// The render worker process as the extension uses it: progress with previews, cancellation within one
// step, typed errors across the thread boundary, and recovery after the worker dies.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CancelledError, RenderWorkerClient, SceneError, WorkerCrashedError } from '../../src/engine/index';
import { modelDir, modelName, repoRoot, tempProject } from './modelUnderTest';

const workerScript = join(repoRoot, 'out', 'worker.js');

describe('render worker', () => {
  const project = tempProject();
  let client: RenderWorkerClient;
  const context = (file: string) => ({ file, projectRoot: project.dir, modelSearchPaths: [], builtinModelsDir: dirname(modelDir) });
  const scene = (seed: number, steps = 6) => `model: ${modelName}\nprompt: a small yellow square at the top right; black background\nseed: ${seed}\nsteps: ${steps}\nguidance: 6\n`;

  before(() => {
    if (!existsSync(workerScript)) {
      const build = spawnSync(process.execPath, [join(repoRoot, 'esbuild.mjs')], { cwd: repoRoot, encoding: 'utf8' });
      assert.equal(build.status, 0, build.stderr);
    }
    client = new RenderWorkerClient({ workerScript, threads: 2 });
  });
  after(async () => {
    await client.dispose();
    project.cleanup();
  });

  test('renders off-thread with per-step progress and previews, then reports up to date', async () => {
    const file = project.write('w.imgprompt', scene(1));
    const steps: number[] = [];
    const result = await client.render(
      { scene: context(file), previews: true },
      { onProgress: (p) => p.progress.phase === 'denoise' && p.progress.preview && steps.push(p.progress.step) },
    );
    assert.deepEqual(steps, [1, 2, 3, 4, 5, 6]);
    assert.equal(result.jobs[0].state, 'rendered');
    assert.equal(existsSync(result.jobs[0].output), true);
    const again = await client.render({ scene: context(file) });
    assert.equal(again.jobs[0].state, 'up-to-date');
  });

  test('a cancel during the loop stops it within one step', async () => {
    const file = project.write('c.imgprompt', scene(2, 40));
    const controller = new AbortController();
    let last = 0;
    const pending = client.render(
      { scene: context(file) },
      {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.progress.phase !== 'denoise') return;
          last = p.progress.step;
          if (p.progress.step === 2) controller.abort();
        },
      },
    );
    await assert.rejects(pending, CancelledError);
    assert.ok(last <= 3, `ran to step ${last} after cancelling at step 2`);
    assert.equal(existsSync(join(project.dir, 'c.png')), false);
  });

  test('scene errors cross the thread boundary as SceneError with diagnostics', async () => {
    const file = project.write('bad.imgprompt', `model: ${modelName}\nprompt: x\nsampler: eular_a\n`);
    await assert.rejects(client.render({ scene: context(file) }), (error: unknown) => {
      assert.ok(error instanceof SceneError);
      assert.equal(error.diagnostics[0].range.start.line, 2);
      assert.match(error.diagnostics[0].message, /euler_a/);
      return true;
    });
  });

  test('a dead worker fails its render clearly and the next render starts a fresh one', async () => {
    const file = project.write('k.imgprompt', scene(3, 40));
    const pending = client.render(
      { scene: context(file) },
      {
        onProgress: (p) => {
          // Simulate a crash (out of memory, native fault) in the middle of the loop.
          if (p.progress.phase === 'denoise' && p.progress.step === 1) (client as unknown as { worker?: { kill(signal: string): boolean } }).worker?.kill('SIGKILL');
        },
      },
    );
    await assert.rejects(pending, WorkerCrashedError);
    const next = await client.render({ scene: context(project.write('k2.imgprompt', scene(4))) });
    assert.equal(next.jobs[0].state, 'rendered');
  });

  test('a memory limit reaches the worker: a model that does not fit is a ModelError, the worker lives on', async () => {
    const limited = new RenderWorkerClient({ workerScript, threads: 2, memoryLimitBytes: 32 * 1024 * 1024 });
    try {
      const file = project.write('mem.imgprompt', scene(5));
      await assert.rejects(limited.render({ scene: context(file) }), (error: unknown) => {
        assert.ok(error instanceof Error && error.name === 'ModelError', String(error));
        assert.match(error.message, /not enough memory to load this model: it needs about \d+ MB .* and 32 MB is available/);
        return true;
      });
      assert.equal(existsSync(join(project.dir, 'mem.png')), false, 'nothing was written');
      // The same worker answers the next request (a scene error, no model needed) instead of having died.
      await assert.rejects(limited.render({ scene: context(project.write('mem2.imgprompt', 'prompt: x\nsteps: 0\n')) }), SceneError);
    } finally {
      await limited.dispose();
    }
  });
});
