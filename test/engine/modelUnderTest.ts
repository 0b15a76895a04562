// The model folder the engine suites render with: the embedded tiny-shapes model, or another export in
// the same layout named by IMGPROMPT_TEST_MODEL_DIR (e.g. a real Stable Diffusion 1.5 ONNX export).
import { cpSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '..', '..');
export const modelDir = process.env.IMGPROMPT_TEST_MODEL_DIR ? resolve(process.env.IMGPROMPT_TEST_MODEL_DIR) : join(repoRoot, 'models', 'tiny-shapes');
export const modelName = basename(modelDir);

/** A throwaway project folder (with .git, so it is a project root) holding scenes; removed by cleanup(). */
export function tempProject(): { dir: string; write(name: string, text: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-engine-'));
  mkdirSync(join(dir, '.git'));
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A copy of the model folder inside `dir`, for tests that damage it. */
export function copyModel(dir: string): string {
  const target = join(dir, 'models', modelName);
  cpSync(modelDir, target, { recursive: true });
  return target;
}
