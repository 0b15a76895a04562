// What a scene's `model:` that names a weights file (rather than a model folder) gets: SD 1.x
// single-file checkpoints are converted on first render (convertedCheckpoints.ts); anything else is
// explained in one sentence that says what the file is. Cached by path, size and modification time,
// because the editor asks on every keystroke.
import { statSync } from 'node:fs';
import { extname } from 'node:path';
import { InputError } from '../errors';
import { readCheckpointHeader, WEIGHT_FILE_EXTENSIONS } from './checkpointHeader';
import { checkpointSummary, describeCheckpoint } from './detectCheckpoint';

export interface WeightsFileVerdict {
  /** The imgprompt converter reads it (an SD 1.x or 2.x single-file checkpoint). */
  readonly convertible: boolean;
  /** One sentence: what the file is, and what happens or what to do. */
  readonly message: string;
}

const cache = new Map<string, { size: number; mtimeMs: number; verdict: WeightsFileVerdict }>();
const CACHE_ENTRIES = 64;

/** True when `written` names a weights file by its extension (`.safetensors`, `.ckpt`, ...). */
export function isWeightsFileName(written: string): boolean {
  return WEIGHT_FILE_EXTENSIONS.includes(extname(written).toLowerCase());
}

function judge(path: string): WeightsFileVerdict {
  let header;
  try {
    header = readCheckpointHeader(path);
  } catch (error) {
    return { convertible: false, message: error instanceof InputError ? error.message : `${path}: cannot read: ${(error as Error).message}` };
  }
  const d = describeCheckpoint(header);
  const summary = checkpointSummary(d);
  const no = (message: string): WeightsFileVerdict => ({ convertible: false, message });
  if ((d.family === 'sd1' || d.family === 'sd2' || d.family === 'sdxl') && d.layout === 'ldm') {
    return { convertible: true, message: `${path} is: ${summary}; it is converted into an ONNX model folder on its first render (once per file content, then cached)` };
  }
  if (d.family === 'lora') return no(`${path} is: ${summary}`);
  if (d.family === 'vae') return no(`${path} is: ${summary}; a scene's model: names a whole model`);
  if (d.family === 'unknown' && !d.unetFamily) return no(`${path} is: ${summary}; ${d.details.join('; ')}`);
  if (!d.unetFamily) return no(`${path} is: ${summary}, a flow-matching transformer family that the local ONNX engine does not run (it needs a ComfyUI or A1111-compatible server)`);
  return no(
    `${path} is: ${summary}. imgprompt converts Stable Diffusion 1.x, 2.x and XL single-file checkpoints; for this one, ` +
      'export the model once with optimum (optimum-cli export onnx) and name that folder',
  );
}

/** What `path` is and whether the converter reads it. */
export function weightsFileVerdict(path: string): WeightsFileVerdict {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return { convertible: false, message: `${path}: not found` };
  }
  const hit = cache.get(path);
  if (hit && hit.size === stat.size && hit.mtimeMs === stat.mtimeMs) return hit.verdict;
  const verdict = judge(path);
  cache.delete(path);
  cache.set(path, { size: stat.size, mtimeMs: stat.mtimeMs, verdict });
  while (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  return verdict;
}
