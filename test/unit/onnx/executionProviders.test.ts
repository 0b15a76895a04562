// Execution-provider selection per platform (onnxruntime-node's prebuilt binaries: CUDA on linux x64,
// DirectML on Windows, CoreML on macOS, WebGPU but not on linux arm64), the CPU fallback with its reason,
// and a real render on this machine whose CUDA libraries are not installed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRenderService, jobsForScene, LocalOnnxBackend, resolveScene, selectExecutionProvider, type ProviderEnvironment } from '../../../src/engine/index';

const env = (platform: string, arch: string, supported: string[], installed: string[] = []): ProviderEnvironment => ({
  platform,
  arch,
  supported: supported.map((name) => ({ name, bundled: name !== 'cuda' && name !== 'tensorrt' })),
  libraryInstalled: (p) => installed.includes(p),
});
const linux = (installed: string[] = []) => env('linux', 'x64', ['cpu', 'webgpu', 'cuda', 'tensorrt'], installed);
const windows = env('win32', 'x64', ['cpu', 'dml', 'webgpu']);
const mac = env('darwin', 'arm64', ['cpu', 'coreml', 'webgpu']);
const linuxArm = env('linux', 'arm64', ['cpu']);

describe('execution providers', () => {
  test('a provider the platform offers is used, with the CPU after it for nodes it lacks', () => {
    assert.deepEqual(selectExecutionProvider('cuda', linux(['cuda'])), { providers: ['cuda', 'cpu'], device: 'cuda' });
    assert.deepEqual(selectExecutionProvider('dml', windows), { providers: ['dml', 'cpu'], device: 'dml' });
    assert.deepEqual(selectExecutionProvider('coreml', mac), { providers: ['coreml', 'cpu'], device: 'coreml' });
    assert.deepEqual(selectExecutionProvider('webgpu', mac), { providers: ['webgpu', 'cpu'], device: 'webgpu' });
    assert.deepEqual(selectExecutionProvider('cpu', windows), { providers: ['cpu'], device: 'cpu' });
  });

  test('one the platform does not offer falls back to the CPU, saying which ones it does offer', () => {
    const s = selectExecutionProvider('dml', mac);
    assert.deepEqual(s.providers, ['cpu']);
    assert.match(s.fallback ?? '', /DirectML requested but rendering on the CPU: onnxruntime-node offers no DirectML on darwin-arm64 \(it offers CoreML, WebGPU\)/);
    assert.match(selectExecutionProvider('webgpu', linuxArm).fallback ?? '', /no WebGPU on linux-arm64 \(only the CPU there\)/);
    assert.match(selectExecutionProvider('coreml', linux()).fallback ?? '', /offers no CoreML on linux-x64 \(it offers CUDA, WebGPU\)/);
  });

  test('CUDA without its provider libraries falls back and says the install script was skipped', () => {
    const s = selectExecutionProvider('cuda', linux());
    assert.equal(s.device, 'cpu');
    assert.match(s.fallback ?? '', /CUDA provider's libraries are not installed .*ONNXRUNTIME_NODE_INSTALL=skip/);
  });

  test('auto picks the platform GPU provider when usable (never the experimental WebGPU), else the CPU without a warning', () => {
    assert.deepEqual(selectExecutionProvider('auto', linux(['cuda'])), { providers: ['cuda', 'cpu'], device: 'cuda' });
    assert.deepEqual(selectExecutionProvider('auto', linux()), { providers: ['cpu'], device: 'cpu' });
    assert.deepEqual(selectExecutionProvider('auto', windows), { providers: ['dml', 'cpu'], device: 'dml' });
    assert.deepEqual(selectExecutionProvider('auto', mac), { providers: ['coreml', 'cpu'], device: 'coreml' });
    assert.deepEqual(selectExecutionProvider('auto', linuxArm), { providers: ['cpu'], device: 'cpu' });
  });

  test('on this machine (CUDA libraries skipped at install) a cuda render falls back to the CPU, warns why, and records the CPU runtime', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgprompt-ep-'));
    mkdirSync(join(dir, '.git'));
    try {
      const file = join(dir, 'scene.imgprompt');
      const text = 'model: tiny-shapes\nprompt: a large red circle\nseed: 3\nsteps: 4\n';
      writeFileSync(file, text);
      const cpu = await createRenderService({ threads: 1 });
      const cuda = await createRenderService({ threads: 1, executionProvider: 'cuda' });
      try {
        const backend = cuda.backend as LocalOnnxBackend;
        if (backend.providers.device !== 'cpu') return; // a machine with CUDA installed: nothing to fall back from
        const resolved = resolveScene(text, { file, projectRoot: dir, builtinModelsDir: resolve(__dirname, '../../../models') });
        const [job] = await jobsForScene(resolved, dir, cpu.hashes, cpu.backend.runtimeVersion);
        const viaCuda = await cuda.render(job);
        const viaCpu = await cpu.render(job);
        assert.ok(viaCuda.warnings.some((w) => /CUDA requested but rendering on the CPU/.test(w)));
        assert.equal(cuda.backend.runtimeVersion, cpu.backend.runtimeVersion);
        assert.ok(viaCuda.png.equals(viaCpu.png), 'the CPU fallback is the CPU render, byte for byte');
      } finally {
        await cuda.dispose();
        await cpu.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
