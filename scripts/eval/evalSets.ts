// The evaluation sets of tools/tiny_model/eval.py (results/eval_prompts.json) and their renders through
// the engine with eval.py's settings: native 128x128, 20 Euler steps (normal schedule: the model's own
// scheduler config), guidance 7.5, negative "", each item's seed with the torch CPU generator.
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError, type RenderService, type PrecisionName, type RGBImage } from '../../src/engine/index';
import type { EvalItem } from './score';

export const EVAL_SETTINGS = { width: 128, height: 128, steps: 20, sampler: 'euler', schedule: 'normal', guidance: 7.5, negative: '' } as const;

export interface EvalSets {
  readonly seen: readonly EvalItem[];
  readonly held_out: readonly EvalItem[];
}

const MAX_ITEMS = 10_000;

/** Reads and checks an eval_prompts.json ({seen: EvalItem[], held_out: EvalItem[]}). */
export function loadEvalSets(path: string): EvalSets {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new InputError(`cannot read the evaluation prompts: ${(error as Error).message}`, path);
  }
  const sets = parsed as Record<string, unknown>;
  if (typeof sets !== 'object' || sets === null) throw new InputError('expected an object with "seen" and "held_out" arrays', path);
  return { seen: checkItems(sets.seen, 'seen', path), held_out: checkItems(sets.held_out, 'held_out', path) };
}

function checkItems(value: unknown, name: string, path: string): EvalItem[] {
  if (!Array.isArray(value)) throw new InputError(`"${name}" must be an array of items`, path);
  if (value.length > MAX_ITEMS) throw new InputError(`"${name}" holds ${value.length} items, more than ${MAX_ITEMS}`, path);
  return value.map((raw: unknown, i) => {
    const item = raw as Record<string, unknown>;
    const where = `${name}[${i}]`;
    if (typeof item !== 'object' || item === null) throw new InputError(`${where} is not an object`, path);
    for (const key of ['prompt', 'background', 'object', 'shape', 'position']) {
      if (typeof item[key] !== 'string') throw new InputError(`${where}.${key} must be a string`, path);
    }
    if (!Number.isSafeInteger(item.seed) || (item.seed as number) < 0) throw new InputError(`${where}.seed must be a non-negative integer, got ${JSON.stringify(item.seed)}`, path);
    return { prompt: item.prompt, background: item.background, object: item.object, shape: item.shape, position: item.position, seed: item.seed } as EvalItem;
  });
}

/** The control's prompts: item i gets the prompt of item (i + max(1, ⌊n / 3⌋)) mod n, as eval.py shifts. */
export function shuffledPrompts(items: readonly EvalItem[]): string[] {
  const shift = Math.max(1, Math.floor(items.length / 3));
  return items.map((_, i) => items[(i + shift) % items.length].prompt);
}

/** The scene text rendering `prompt` with `seed` on the model folder named `modelName`. */
export function evalSceneText(modelName: string, prompt: string, seed: number, precision: PrecisionName = 'fp32'): string {
  const s = EVAL_SETTINGS;
  const lines = [
    `model: ${JSON.stringify(modelName)}`,
    `prompt: ${JSON.stringify(prompt)}`,
    `negative: ${JSON.stringify(s.negative)}`,
    `seed: ${seed}`,
    `size: {width: ${s.width}, height: ${s.height}}`,
    `sampler: ${s.sampler}`,
    `schedule: ${s.schedule}`,
    `steps: ${s.steps}`,
    `guidance: ${s.guidance}`,
  ];
  if (precision !== 'fp32') lines.push(`precision: ${precision}`);
  return lines.join('\n');
}

export interface EvalRenderContext {
  readonly engine: RenderService;
  /** The model folder; its parent is searched as the models folder. */
  readonly modelDir: string;
  /** A folder standing in for the project (nothing is written there). */
  readonly projectDir: string;
  readonly signal?: AbortSignal;
  /** The UNet's weight precision (default fp32). */
  readonly precision?: PrecisionName;
}

/** Renders `prompt` with `seed` in memory (no PNG is written). */
export async function renderEvalImage(context: EvalRenderContext, prompt: string, seed: number): Promise<RGBImage> {
  const { engine, modelDir, projectDir, signal, precision } = context;
  const text = evalSceneText(basename(modelDir), prompt, seed, precision);
  const plan = await engine.plan({ file: join(projectDir, 'eval.imgprompt'), text, context: { projectRoot: projectDir, builtinModelsDir: dirname(modelDir) } }, signal);
  const { job } = plan.jobs[0];
  return (await engine.render(job, { signal })).image;
}
