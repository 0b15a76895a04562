// `npm run eval:precision`: what each weight precision costs in quality on the embedded tiny-shapes
// model. Every prompt of the evaluation sets (seen, held out, the shuffled control) is rendered in memory
// at fp32 and at each variant (int8, fp16, bf16), with eval-model's settings; each variant is scored by
// the judge (the same figures as `npm run eval:model`) and compared pixel by pixel with the fp32 render
// of the same prompt and seed: PSNR (over all images of a set), the largest pixel difference, and how
// many images get the same verdict (background, object colour, sides) as at fp32.
//
//   node --import tsx scripts/eval-precision.ts [--limit N] [--threads N] [--json FILE]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createRenderService, PRECISIONS, type PrecisionName, type RGBImage } from '../src/engine/index';
import { judgeImage, sameVerdict, scoreSet, type JudgeVerdict, type SetScore } from './eval/index';
import { EVAL_SETTINGS, loadEvalSets, renderEvalImage, shuffledPrompts } from './eval/evalSets';
import { positiveIntegerOption } from './benchStats';

const root = resolve(__dirname, '..');
const modelDir = join(root, 'models', 'tiny-shapes');
const results = join(root, 'tools', 'tiny_model', 'results');
type SetName = 'seen' | 'held_out' | 'shuffled_control';
const SET_NAMES: readonly SetName[] = ['seen', 'held_out', 'shuffled_control'];

interface Comparison {
  readonly psnr: number;
  readonly maxPixelDifference: number;
  readonly sameVerdict: number;
  readonly identicalImages: number;
}

function compare(images: readonly RGBImage[], reference: readonly RGBImage[], verdicts: readonly JudgeVerdict[], referenceVerdicts: readonly JudgeVerdict[]): Comparison {
  let squared = 0;
  let count = 0;
  let max = 0;
  let identical = 0;
  for (let i = 0; i < images.length; i++) {
    const a = images[i].data;
    const b = reference[i].data;
    let same = true;
    for (let k = 0; k < a.length; k++) {
      const d = a[k] - b[k];
      squared += d * d;
      if (d !== 0) {
        same = false;
        max = Math.max(max, Math.abs(d));
      }
    }
    count += a.length;
    if (same) identical++;
  }
  const mse = squared / Math.max(1, count);
  return {
    psnr: mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse),
    maxPixelDifference: max,
    sameVerdict: verdicts.filter((v, i) => sameVerdict(v, referenceVerdicts[i])).length,
    identicalImages: identical,
  };
}

function pct(value: number | null): string {
  return value === null ? '—' : value.toFixed(1);
}

function fail(message: string): never {
  console.error(`eval-precision: ${message}`);
  process.exit(2);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { limit: { type: 'string' }, threads: { type: 'string' }, json: { type: 'string' } }, strict: true });
  const limit = positiveIntegerOption(values.limit, 'limit', fail);
  const threads = positiveIntegerOption(values.threads, 'threads', fail) ?? (Number(process.env.IMGPROMPT_THREADS) || undefined);
  const sets = loadEvalSets(join(results, 'eval_prompts.json'));
  const seen = sets.seen.slice(0, limit);
  const held = sets.held_out.slice(0, limit);
  const plan = {
    seen: { items: seen, prompts: seen.map((it) => it.prompt) },
    held_out: { items: held, prompts: held.map((it) => it.prompt) },
    shuffled_control: { items: seen, prompts: shuffledPrompts(seen) },
  };
  const s = EVAL_SETTINGS;
  console.log(`eval-precision: tiny-shapes, ${s.width}x${s.height}, ${s.steps} steps ${s.sampler}, guidance ${s.guidance}; ${seen.length} seen, ${held.length} held out, ${seen.length} shuffled, at ${PRECISIONS.join(', ')}`);

  const projectDir = mkdtempSync(join(tmpdir(), 'imgprompt-eval-precision-'));
  const engine = await createRenderService({ threads });
  const images = {} as Record<PrecisionName, Record<SetName, RGBImage[]>>;
  const verdicts = {} as Record<PrecisionName, Record<SetName, JudgeVerdict[]>>;
  const scores = {} as Record<PrecisionName, Record<SetName, SetScore>>;
  const msPerRender = {} as Record<PrecisionName, number>;
  try {
    for (const precision of PRECISIONS) {
      images[precision] = {} as Record<SetName, RGBImage[]>;
      verdicts[precision] = {} as Record<SetName, JudgeVerdict[]>;
      // One render first so the variant's session is made (and cached) outside the timing.
      await renderEvalImage({ engine, modelDir, projectDir, precision }, seen[0].prompt, seen[0].seed);
      const started = performance.now();
      let renders = 0;
      for (const name of SET_NAMES) {
        const { items, prompts } = plan[name];
        images[precision][name] = [];
        for (let i = 0; i < items.length; i++) {
          images[precision][name].push(await renderEvalImage({ engine, modelDir, projectDir, precision }, prompts[i], items[i].seed));
          renders++;
        }
        verdicts[precision][name] = images[precision][name].map(judgeImage);
      }
      msPerRender[precision] = (performance.now() - started) / renders;
      scores[precision] = Object.fromEntries(SET_NAMES.map((name) => [name, scoreSet(plan[name].items, verdicts[precision][name])])) as Record<SetName, SetScore>;
      console.error(`${precision}: ${renders} renders, ${msPerRender[precision].toFixed(0)} ms a render`);
    }
  } finally {
    await engine.dispose();
    rmSync(projectDir, { recursive: true, force: true });
  }

  const comparisons = {} as Record<PrecisionName, Record<SetName, Comparison>>;
  for (const precision of PRECISIONS) {
    comparisons[precision] = Object.fromEntries(
      SET_NAMES.map((name) => [name, compare(images[precision][name], images.fp32[name], verdicts[precision][name], verdicts.fp32[name])]),
    ) as Record<SetName, Comparison>;
  }
  const rows: string[][] = [
    ['precision', 'seen bg', 'seen colour', 'seen L/R', 'held bg', 'held colour', 'control colour', 'PSNR vs fp32', 'max |Δ|', 'same verdict', 'identical', 'ms/render'],
  ];
  const total = SET_NAMES.reduce((n, name) => n + plan[name].items.length, 0);
  for (const precision of PRECISIONS) {
    const sc = scores[precision];
    const cmp = SET_NAMES.map((name) => comparisons[precision][name]);
    const squaredMean = cmp.reduce((acc, c, i) => acc + (c.psnr === Infinity ? 0 : 10 ** (-c.psnr / 10)) * plan[SET_NAMES[i]].items.length, 0) / total;
    rows.push([
      precision,
      pct(sc.seen.background),
      pct(sc.seen.object_colour),
      pct(sc.seen.left_right),
      pct(sc.held_out.background),
      pct(sc.held_out.object_colour),
      pct(sc.shuffled_control.object_colour),
      squaredMean === 0 ? '∞' : `${(-10 * Math.log10(squaredMean)).toFixed(1)} dB`,
      String(Math.max(...cmp.map((c) => c.maxPixelDifference))),
      `${cmp.reduce((n, c) => n + c.sameVerdict, 0)}/${total}`,
      `${cmp.reduce((n, c) => n + c.identicalImages, 0)}/${total}`,
      msPerRender[precision].toFixed(0),
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  console.log(rows.map((r) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ')).join('\n'));
  if (values.json) {
    const round = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null);
    const out = {
      model: 'models/tiny-shapes',
      settings: EVAL_SETTINGS,
      threads: threads ?? null,
      precisions: Object.fromEntries(
        PRECISIONS.map((p) => [
          p,
          {
            ms_per_render: round(msPerRender[p]),
            scores: scores[p],
            against_fp32: Object.fromEntries(SET_NAMES.map((name) => [name, { ...comparisons[p][name], psnr: round(comparisons[p][name].psnr) }])),
          },
        ]),
      ),
    };
    writeFileSync(values.json, `${JSON.stringify(out, null, 1)}\n`);
    console.log(`wrote ${values.json}`);
  }
}

main().catch((error: unknown) => {
  console.error(`eval-precision: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
