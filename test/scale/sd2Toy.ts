// The seeded SD 2.x-architecture toy (tools/sd15_random/make_sd2_toy.py): the same weights as an optimum
// ONNX folder, a single-file LDM checkpoint and a diffusers folder, generated into the cache when absent or
// made by an older generator (~1.5 min; torch needed: see sd15ReferenceUnavailable).
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { runPythonTool } from './sd15Random';

/** make_sd2_toy.py's GENERATOR_VERSION. */
export const SD2_TOY_GENERATOR_VERSION = 1;
export const SD2_TOY_SEED = 2024;

export interface Sd2Toy {
  readonly dir: string;
  /** The optimum ONNX folder (torch's export): the reference. */
  readonly onnx: string;
  readonly singleFile: string;
  readonly diffusers: string;
  /** Torch's eager text-encoder outputs (reference.json). */
  readonly reference: string;
}

export function ensureSd2Toy(variant: 'v' | 'inpaint'): Sd2Toy {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const dir = join(cache, 'imgprompt', variant === 'v' ? 'sd2-random-toy' : 'sd2-inpaint-random-toy');
  const stamp = join(dir, 'sd2_toy.json');
  const fits = () => {
    if (!existsSync(stamp)) return false;
    const made = JSON.parse(readFileSync(stamp, 'utf8')) as { seed: number; generator_version: number; inpaint: boolean };
    return made.seed === SD2_TOY_SEED && made.generator_version >= SD2_TOY_GENERATOR_VERSION && made.inpaint === (variant === 'inpaint');
  };
  if (!fits()) runPythonTool('tools.sd15_random.make_sd2_toy', ['--out', dir, '--seed', String(SD2_TOY_SEED), ...(variant === 'inpaint' ? ['--inpaint'] : [])]);
  if (!fits()) throw new Error(`make_sd2_toy finished but ${stamp} does not describe the ${variant} toy of seed ${SD2_TOY_SEED}`);
  const made = JSON.parse(readFileSync(stamp, 'utf8')) as { single_file: string };
  return { dir, onnx: join(dir, 'onnx'), singleFile: join(dir, made.single_file), diffusers: join(dir, 'diffusers'), reference: join(dir, 'reference.json') };
}
