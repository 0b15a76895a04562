// The seeded random-weight SDXL model (tools/sdxl_random/make_model.py) the SDXL tests read: the same
// weights as an optimum ONNX folder, a diffusers folder and an SGM single file, plus PyTorch references,
// generated once into the cache (~1 min at toy scale) and made again when the generator changes.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ensureConvertedCheckpoint, FileHashCache } from '../../src/engine/index';
import { PYTHON, repoRoot, sd15ReferenceUnavailable } from './sd15Random';

/** tools/sdxl_random/make_model.py's GENERATOR_VERSION: an older folder in the cache is made again. */
export const SDXL_RANDOM_GENERATOR_VERSION = 3;

export interface SdxlRandom {
  readonly root: string;
  readonly onnx: string;
  readonly diffusers: string;
  readonly singleFile: string;
  readonly unetReference: string;
  readonly textReference: string;
}

export function sdxlRandomDir(scale: 'toy' | 'full'): string {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'imgprompt', `sdxl-random-${scale}`);
}

/** Why the SDXL reference cannot be generated here, or false when it can. */
export function sdxlReferenceUnavailable(): string | false {
  if (!existsSync(join(repoRoot, 'tools', 'sdxl_random', 'make_model.py'))) return 'tools/sdxl_random/make_model.py is absent';
  return sd15ReferenceUnavailable();
}

/** The toy SDXL files, generated into the cache when absent or made by an older generator. */
export function ensureSdxlRandom(scale: 'toy' | 'full' = 'toy', only?: 'onnx' | 'checkpoints'): SdxlRandom {
  const root = sdxlRandomDir(scale);
  const stamp = join(root, 'sdxl_random.json');
  const single = `sdxl-random-${scale}.safetensors`;
  const needed = only === 'onnx' ? ['onnx'] : only === 'checkpoints' ? ['diffusers', single] : ['onnx', 'diffusers', single];
  const fits = () => {
    if (!existsSync(stamp)) return false;
    const made = JSON.parse(readFileSync(stamp, 'utf8')) as { scale: string; generator_version: number; files?: string[] };
    // A folder made with --only lacks the other layouts; it serves only callers that ask for what it has.
    return made.scale === scale && made.generator_version >= SDXL_RANDOM_GENERATOR_VERSION && needed.every((f) => made.files?.includes(f));
  };
  if (!fits()) {
    const result = spawnSync(PYTHON, ['-m', 'tools.sdxl_random.make_model', '--scale', scale, '--out', root, ...(only ? ['--only', only] : [])], {
      cwd: repoRoot,
      env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
      encoding: 'utf8',
      timeout: scale === 'full' ? 7_200_000 : 900_000,
      ...(scale === 'full' ? { stdio: ['ignore', 'inherit', 'inherit'] as const } : {}),
    });
    if (result.status !== 0) throw new Error(`tools.sdxl_random.make_model exited ${result.status ?? result.signal}:\n${result.stdout}\n${result.stderr}`);
    if (!fits()) throw new Error(`make_model.py finished but ${stamp} does not record scale ${scale}`);
  }
  return {
    root,
    onnx: join(root, 'onnx'),
    diffusers: join(root, 'diffusers'),
    singleFile: join(root, single),
    unetReference: join(root, 'unet_reference.safetensors'),
    textReference: join(root, 'text_reference.safetensors'),
  };
}

/**
 * The full-size SDXL single file (float16, as SDXL base ships) converted by the checkpoint builder, as a
 * user's first render converts it: SDXL base's 2.6 B-parameter UNet is too large for torch.onnx.export
 * on a 24 GiB machine, so at full size the ONNX side of the tests and benchmarks is this conversion.
 * Returns the converted folder (cached beside the files; the second call finds it by the file's stats).
 */
export async function convertedSdxlRandomFull(): Promise<{ files: SdxlRandom; folder: string; convertMs: number }> {
  const files = ensureSdxlRandom('full', 'checkpoints');
  const cacheDir = join(files.root, 'converted');
  const started = performance.now();
  const hashes = await FileHashCache.open(cacheDir);
  const folder = await ensureConvertedCheckpoint(files.singleFile, cacheDir, { hashes, env: { ...process.env, HF_HUB_CACHE: join(cacheDir, 'none') } });
  return { files, folder, convertMs: performance.now() - started };
}

/** The toy SDXL ControlNet (tools/sdxl_random/make_controlnet.py) beside the toy model: its folder and PyTorch references. */
export interface SdxlControlNet {
  /** The ONNX ControlNet folder (model.onnx). */
  readonly dir: string;
  /** Seeded inputs, the residuals and `unet_out_sample` (the toy UNet with the residuals added). */
  readonly reference: string;
}

/** Generated once into the toy's cache folder; v2 added the UNet + residuals reference. */
export function ensureSdxlControlNet(): SdxlControlNet {
  const root = join(sdxlRandomDir('toy'), 'controlnet-xl-v2');
  const reference = join(root, 'controlnet_reference.safetensors');
  if (!existsSync(reference)) generateInto(root, 'tools.sdxl_random.make_controlnet');
  return { dir: join(root, 'controlnet'), reference };
}

/**
 * The toy SDXL refiner (tools/sdxl_random/make_refiner.py): the same files as the base's (three layouts,
 * PyTorch UNet reference, and the prompt conditioning of the `prompt` in its metadata).
 */
export type SdxlRefiner = SdxlRandom;

/** make_refiner.py's GENERATOR_VERSION: an older folder in the cache is made again. */
export const SDXL_REFINER_GENERATOR_VERSION = 2;

/** Generated once (about 90 s) into the toy's cache folder. */
export function ensureSdxlRefiner(): SdxlRefiner {
  const root = join(sdxlRandomDir('toy'), 'refiner');
  const stamp = join(root, 'sdxl_refiner.json');
  const fits = () => existsSync(stamp) && (JSON.parse(readFileSync(stamp, 'utf8')) as { generator_version: number }).generator_version >= SDXL_REFINER_GENERATOR_VERSION;
  if (!fits()) {
    rmSync(root, { recursive: true, force: true }); // an older version's
    generateInto(root, 'tools.sdxl_random.make_refiner');
    if (!fits()) throw new Error(`make_refiner.py finished but ${stamp} is missing or older than version ${SDXL_REFINER_GENERATOR_VERSION}`);
  }
  return {
    root,
    onnx: join(root, 'onnx'),
    diffusers: join(root, 'diffusers'),
    singleFile: join(root, 'sdxl-refiner-toy.safetensors'),
    unetReference: join(root, 'unet_reference.safetensors'),
    textReference: join(root, 'text_reference.safetensors'),
  };
}

/**
 * Runs a generator module into a fresh folder beside `root` and renames it into place, so test files
 * running at once never see a half-written folder or delete one another's (the first rename wins).
 */
function generateInto(root: string, module: string): void {
  const partial = `${root}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  try {
    const result = spawnSync(PYTHON, ['-m', module, '--out', partial], { cwd: repoRoot, encoding: 'utf8', timeout: 900_000, env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } });
    if (result.status !== 0) throw new Error(`${module} exited ${result.status ?? result.signal}:\n${result.stdout}\n${result.stderr}`);
    try {
      renameSync(partial, root);
    } catch (error) {
      // Another process put its folder there first: use that one.
      if (!existsSync(root)) throw error;
    }
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
}
