// Runs the tiny-model recipe's own smoke test (tools/tiny_model/smoke_test.py: every training stage at toy
// size, packing, resuming, ONNX export with optimum's names) when a Python with torch and onnx is present.
// Without one the test is reported as skipped with the reason, never as passed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');
// Debian's interpreter, where python3-torch installs; a pyenv python earlier on PATH cannot import it.
const python = process.env.IMGPROMPT_PYTHON ?? '/usr/bin/python3';
const env = { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' };

function torchMissing(): string | false {
  if (!existsSync(python)) return `${python} does not exist (set IMGPROMPT_PYTHON; see tools/tiny_model/setup.sh)`;
  const probe = spawnSync(python, ['-c', 'import torch, onnx, numpy, PIL'], { env, encoding: 'utf8', timeout: 60_000 });
  if (probe.status !== 0) {
    const why = (probe.stderr || probe.error?.message || '').trim().split('\n').pop();
    return `${python} cannot import torch/onnx/numpy/PIL (${why}); run tools/tiny_model/setup.sh`;
  }
  return false;
}

test('tiny-model smoke test: every stage at toy size, pack, resume, export', { skip: torchMissing(), timeout: 600_000 }, () => {
  const result = spawnSync(python, ['-m', 'tools.tiny_model.smoke_test'], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 590_000,
  });
  assert.equal(result.status, 0, `smoke_test.py exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /smoke test passed/);
});

test('adapter tools at toy size: safetensors writer, LoRA naming, ControlNet, hint augmentation, evaluation masks', { skip: torchMissing(), timeout: 300_000 }, () => {
  const result = spawnSync(python, ['-m', 'tools.tiny_model.test_adapters'], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 290_000,
  });
  assert.equal(result.status, 0, `test_adapters.py exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
});

/** Sizes of every file below `dir`. */
function folderBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? folderBytes(join(dir, e.name)) : statSync(join(dir, e.name)).size), 0);
}

test('the shipped tiny-shapes model (with its LoRAs and ControlNet) stays within its 40 MB budget and lists its buckets', () => {
  const dir = join(root, 'models', 'tiny-shapes');
  const total = folderBytes(dir);
  assert.ok(total <= 40 * 1000 * 1000, `models/tiny-shapes totals ${total} bytes, over 40 MB`);
  const index = JSON.parse(readFileSync(join(dir, 'model_index.json'), 'utf8')) as {
    imgprompt: { native_size: number[]; buckets: number[][] };
  };
  assert.deepEqual(index.imgprompt.native_size, [128, 128]);
  for (const [w, h] of index.imgprompt.buckets) {
    assert.ok(w % 32 === 0 && h % 32 === 0, `bucket ${w}x${h} is not a multiple of 32`);
  }
});
