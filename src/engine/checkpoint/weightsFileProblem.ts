// Why a scene's `model:` that names a weights file (rather than a model folder) cannot be rendered here,
// in one sentence that says what the file is. Cached by path, size and modification time, because the
// editor asks on every keystroke.
import { statSync } from 'node:fs';
import { extname } from 'node:path';
import { InputError } from '../errors';
import { readCheckpointHeader, WEIGHT_FILE_EXTENSIONS } from './checkpointHeader';
import { checkpointSummary, describeCheckpoint } from './detectCheckpoint';

const cache = new Map<string, { size: number; mtimeMs: number; problem: string }>();
const CACHE_ENTRIES = 64;

/** True when `written` names a weights file by its extension (`.safetensors`, `.ckpt`, ...). */
export function isWeightsFileName(written: string): boolean {
  return WEIGHT_FILE_EXTENSIONS.includes(extname(written).toLowerCase());
}

function explain(path: string): string {
  let header;
  try {
    header = readCheckpointHeader(path);
  } catch (error) {
    if (error instanceof InputError) return error.message;
    return `${path}: cannot read: ${(error as Error).message}`;
  }
  const d = describeCheckpoint(header);
  const summary = checkpointSummary(d);
  if (d.family === 'lora') return `${path} is: ${summary}`;
  if (d.family === 'vae') return `${path} is: ${summary}; a scene's model: names a whole model`;
  if (d.family === 'unknown' && !d.unetFamily) return `${path} is: ${summary}; ${d.details.join('; ')}`;
  if (!d.unetFamily) {
    return `${path} is: ${summary}, a flow-matching transformer family that the local ONNX engine does not run (it needs a ComfyUI or A1111-compatible server)`;
  }
  return (
    `${path} is: ${summary}. The local engine runs model folders in the diffusers/optimum ONNX layout; ` +
    'converting single-file checkpoints is not in this build yet: export the model once with optimum (optimum-cli export onnx) and name that folder'
  );
}

/** The problem with rendering the weights file at `path`, as one sentence naming what the file is. */
export function weightsFileProblem(path: string): string {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return `${path}: not found`;
  }
  const hit = cache.get(path);
  if (hit && hit.size === stat.size && hit.mtimeMs === stat.mtimeMs) return hit.problem;
  const problem = explain(path);
  cache.delete(path);
  cache.set(path, { size: stat.size, mtimeMs: stat.mtimeMs, problem });
  while (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  return problem;
}
