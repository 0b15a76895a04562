// `npm run eval:model`: the tiny-shapes quality evaluation of tools/tiny_model/eval.py run through the
// engine: every prompt of results/eval_prompts.json (seen, held out, and the shuffled control) rendered
// in memory with eval.py's settings, judged by the port of judge.py, and printed as eval.json's table
// beside the PyTorch figures of results/eval.json. eval.json holds no per-image verdicts, so per-image
// agreement is measured on the PyTorch renders that eval.py saves as grids (eval_seen.png,
// eval_held_out.png: the first 32 items of each set): same verdict, and the largest pixel difference.
//
//   node --import tsx scripts/eval-model.ts [--model DIR] [--limit N] [--threads N] [--json FILE]
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { createRenderService, type RGBImage } from '../src/engine/index';
import { judgeImage, sameVerdict, scoreSet, SCORE_FIELDS, type EvalItem, type JudgeVerdict, type SetScore } from './eval/index';
import { EVAL_SETTINGS, loadEvalSets, renderEvalImage, shuffledPrompts } from './eval/evalSets';
import { positiveIntegerOption } from './benchStats';

const root = resolve(__dirname, '..');
const results = join(root, 'tools', 'tiny_model', 'results');
const GRID = { tile: 128, pad: 2, cols: 8 } as const;

type SetName = 'seen' | 'held_out' | 'shuffled_control';
const SET_NAMES: readonly SetName[] = ['seen', 'held_out', 'shuffled_control'];

interface SetRun {
  readonly items: readonly EvalItem[];
  readonly prompts: readonly string[];
  readonly images: RGBImage[];
  readonly verdicts: JudgeVerdict[];
}

function usage(message: string): never {
  console.error(`eval-model: ${message}\nusage: node --import tsx scripts/eval-model.ts [--model DIR] [--limit N] [--threads N] [--json FILE]`);
  process.exit(2);
}

/** Tile k of a grid written by eval.py's grid() (8 columns of 128x128 tiles, 2-pixel gaps). */
async function gridTiles(path: string, count: number): Promise<RGBImage[]> {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const tiles: RGBImage[] = [];
  const { tile, pad, cols } = GRID;
  for (let k = 0; k < count; k++) {
    const x0 = pad + (k % cols) * (tile + pad);
    const y0 = pad + Math.floor(k / cols) * (tile + pad);
    if (x0 + tile > info.width || y0 + tile > info.height) break;
    const out = new Uint8Array(tile * tile * 3);
    for (let y = 0; y < tile; y++) out.set(data.subarray(((y0 + y) * info.width + x0) * 3, ((y0 + y) * info.width + x0 + tile) * 3), y * tile * 3);
    tiles.push({ data: out, width: tile, height: tile });
  }
  return tiles;
}

function maxPixelDifference(a: RGBImage, b: RGBImage): number {
  let max = 0;
  for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i] - b.data[i]));
  return max;
}

function cell(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : value.toFixed(1);
}

function table(engine: Record<SetName, SetScore>, torch: Partial<Record<SetName, Partial<SetScore>>> | undefined): string {
  const header = ['metric', ...SET_NAMES.flatMap((s) => [`${s} engine`, `${s} torch`])];
  const rows: string[][] = [header];
  for (const field of ['n', ...SCORE_FIELDS.slice(0, 4), 'left_right_n', ...SCORE_FIELDS.slice(4)] as const) {
    rows.push([field, ...SET_NAMES.flatMap((s) => {
      const ours = engine[s][field];
      const theirs = torch?.[s]?.[field];
      const counts = field === 'n' || field === 'left_right_n';
      return [counts ? String(ours) : cell(ours), counts ? String(theirs ?? '—') : cell(theirs)];
    })]);
  }
  const widths = header.map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ')).join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      limit: { type: 'string' },
      threads: { type: 'string' },
      json: { type: 'string' },
      prompts: { type: 'string' },
      reference: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) usage('renders the tiny-shapes evaluation through the engine');
  const modelDir = resolve(values.model ?? join(root, 'models', 'tiny-shapes'));
  if (!existsSync(join(modelDir, 'model_index.json'))) usage(`${modelDir} is not a model folder (no model_index.json)`);
  const limit = positiveIntegerOption(values.limit, 'limit', usage);
  const threads = positiveIntegerOption(values.threads, 'threads', usage) ?? (Number(process.env.IMGPROMPT_THREADS) || undefined);
  const promptsFile = resolve(values.prompts ?? join(results, 'eval_prompts.json'));
  const referenceFile = resolve(values.reference ?? join(results, 'eval.json'));

  const sets = loadEvalSets(promptsFile);
  const seen = sets.seen.slice(0, limit);
  const held = sets.held_out.slice(0, limit);
  const plan: Record<SetName, { items: readonly EvalItem[]; prompts: readonly string[] }> = {
    seen: { items: seen, prompts: seen.map((it) => it.prompt) },
    held_out: { items: held, prompts: held.map((it) => it.prompt) },
    shuffled_control: { items: seen, prompts: shuffledPrompts(seen) },
  };
  const total = SET_NAMES.reduce((n, s) => n + plan[s].items.length, 0);
  const s = EVAL_SETTINGS;
  console.log(`eval-model: ${modelDir}`);
  console.log(`${s.width}x${s.height}, ${s.steps} steps ${s.sampler} (${s.schedule}), guidance ${s.guidance}, negative ${JSON.stringify(s.negative)}; ${seen.length} seen, ${held.length} held out, ${seen.length} shuffled (${total} renders)`);

  const projectDir = mkdtempSync(join(tmpdir(), 'imgprompt-eval-'));
  const engine = await createRenderService({ threads });
  const runs = {} as Record<SetName, SetRun>;
  const started = performance.now();
  let done = 0;
  try {
    for (const name of SET_NAMES) {
      const { items, prompts } = plan[name];
      const run: SetRun = { items, prompts, images: [], verdicts: [] };
      for (let i = 0; i < items.length; i++) {
        const image = await renderEvalImage({ engine, modelDir, projectDir }, prompts[i], items[i].seed);
        run.images.push(image);
        run.verdicts.push(judgeImage(image));
        done++;
        if (process.stderr.isTTY) process.stderr.write(`\r${done}/${total} renders`);
      }
      runs[name] = run;
    }
  } finally {
    if (process.stderr.isTTY) process.stderr.write('\n');
    await engine.dispose();
    rmSync(projectDir, { recursive: true, force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  const scores = Object.fromEntries(SET_NAMES.map((name) => [name, scoreSet(runs[name].items, runs[name].verdicts)])) as Record<SetName, SetScore>;

  let reference: (Partial<Record<SetName, Partial<SetScore>>> & { model_steps?: number }) | undefined;
  if (existsSync(referenceFile)) reference = JSON.parse(readFileSync(referenceFile, 'utf8')) as typeof reference;
  console.log(`\nrendered in ${seconds.toFixed(1)} s (${((1000 * seconds) / Math.max(1, total)).toFixed(0)} ms a render)\n`);
  console.log(table(scores, reference));
  if (!reference) console.log(`\n(no PyTorch figures: ${referenceFile} is missing)`);
  else {
    console.log(`\ntorch: ${referenceFile} (model after ${reference.model_steps ?? '?'} UNet steps)`);
    if (limit !== undefined && limit < Math.max(sets.seen.length, sets.held_out.length)) {
      console.log(`note: --limit ${limit}: the torch figures are over all items and the control shifts prompts by a third of ${seen.length}, not of ${sets.seen.length}`);
    }
    console.log('eval.json holds no per-image verdicts; per-image agreement below is against the PyTorch renders saved in the grids.');
  }

  // Per-image agreement with the PyTorch renders eval.py saved (first 32 of seen and held out).
  const agreement: Record<string, { compared: number; sameVerdict: number; maxPixelDifference: number; disagreements: number[] }> = {};
  for (const [name, grid] of [['seen', 'eval_seen.png'], ['held_out', 'eval_held_out.png']] as const) {
    const path = join(results, grid);
    if (!existsSync(path)) {
      console.log(`${name}: ${path} is missing, no per-image comparison`);
      continue;
    }
    const tiles = await gridTiles(path, Math.min(32, runs[name].images.length));
    const entry = { compared: tiles.length, sameVerdict: 0, maxPixelDifference: 0, disagreements: [] as number[] };
    tiles.forEach((tile, i) => {
      if (sameVerdict(judgeImage(tile), runs[name].verdicts[i])) entry.sameVerdict++;
      else entry.disagreements.push(i);
      entry.maxPixelDifference = Math.max(entry.maxPixelDifference, maxPixelDifference(tile, runs[name].images[i]));
    });
    agreement[name] = entry;
    const which = entry.disagreements.length ? ` (differ: items ${entry.disagreements.join(', ')})` : '';
    console.log(`${name}: ${entry.sameVerdict}/${entry.compared} images judged alike (background, object, sides) as the PyTorch render in ${grid}${which}; largest pixel difference ${entry.maxPixelDifference}/255`);
  }

  if (values.json) {
    const out = {
      model: relative(root, modelDir).split(sep).join('/'),
      settings: EVAL_SETTINGS,
      seconds: Math.round(seconds * 10) / 10,
      ...scores,
      agreement_with_torch_renders: agreement,
      verdicts: Object.fromEntries(SET_NAMES.map((name) => [name, runs[name].items.map((item, i) => ({ ...item, prompt: runs[name].prompts[i], expected_prompt: item.prompt, verdict: runs[name].verdicts[i] }))])),
    };
    writeFileSync(values.json, JSON.stringify(out, null, 1) + '\n');
    console.log(`\nwrote ${values.json}`);
  }
}

main().catch((error: unknown) => {
  console.error(`eval-model: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
