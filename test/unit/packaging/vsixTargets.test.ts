// The platform-specific .vsix packages (scripts/vsixTargets.mjs), listed by vsce itself under each
// target's ignore file: exactly that platform's ONNX Runtime binaries (DirectML and its shader compiler on
// Windows), that platform's sharp packages and nothing of the other platforms. ONNX Runtime ships every
// platform inside onnxruntime-node, so its part is checked against the files on disk for all targets;
// sharp's other-platform packages are only present once installed for them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { listFiles } from '@vscode/vsce';

const repo = resolve(__dirname, '../../..');

interface Targets {
  VSIX_TARGETS: string[];
  ignoreFileFor(target: string, base: string): string;
  ortFolder(target: string): string;
  sharpPackages(target: string): string[];
  requiredFilesFor(target: string): string[];
}

describe('platform-specific .vsix packages', () => {
  const load = async () => (await import(join(repo, 'scripts', 'vsixTargets.mjs'))) as Targets;

  test('the four targets VS Code publishes for', async () => {
    assert.deepEqual((await load()).VSIX_TARGETS, ['linux-x64', 'linux-arm64', 'win32-x64', 'darwin-arm64']);
  });

  for (const target of ['linux-x64', 'linux-arm64', 'win32-x64', 'darwin-arm64']) {
    test(`${target}: its own ONNX Runtime binaries and sharp packages, no other platform's`, async () => {
      const t = await load();
      const dir = mkdtempSync(join(tmpdir(), 'imgprompt-ignore-'));
      try {
        const ignoreFile = join(dir, '.vscodeignore');
        writeFileSync(ignoreFile, t.ignoreFileFor(target, readFileSync(join(repo, '.vscodeignore'), 'utf8')));
        const files = await listFiles({ cwd: repo, ignoreFile });
        const folder = t.ortFolder(target);
        const ort = files.filter((f) => f.startsWith('node_modules/onnxruntime-node/bin/')).sort();
        const onDisk = readdirSync(join(repo, folder)).map((f) => `${folder}/${f}`).filter((f) => !/providers_(tensorrt)/.test(f)).sort();
        assert.deepEqual(ort, onDisk, `${target}: ONNX Runtime files differ from ${folder}`);
        assert.ok(ort.some((f) => f.endsWith('/onnxruntime_binding.node')));
        if (target === 'win32-x64') for (const dll of ['onnxruntime.dll', 'DirectML.dll', 'dxcompiler.dll', 'dxil.dll']) assert.ok(ort.includes(`${folder}/${dll}`), `${dll} missing`);
        const img = files.filter((f) => f.startsWith('node_modules/@img/'));
        const own = t.sharpPackages(target);
        assert.deepEqual(img.filter((f) => !own.some((p) => f.startsWith(`node_modules/${p}/`)) && !f.startsWith('node_modules/@img/colour/')), [], 'sharp packages of another platform');
        for (const pkg of own) {
          if (existsSync(join(repo, 'node_modules', pkg))) assert.ok(img.some((f) => f.startsWith(`node_modules/${pkg}/`)), `${pkg} is installed but not packaged`);
        }
        assert.ok(t.requiredFilesFor(target).every((f) => f.startsWith('extension/')));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test('an unknown target is refused', async () => {
    await assert.rejects(async () => (await load()).ignoreFileFor('win32-arm', ''), /unknown target 'win32-arm'/);
  });
});
