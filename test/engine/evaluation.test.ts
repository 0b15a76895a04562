// The tiny-shapes quality evaluation through the engine. First the port of the pixel judge and of
// eval.py's scoring against the Python originals (test/fixtures/reference/judge/, written by
// tools/tiny_model/judge_fixtures.py); then a fixed subset of results/eval_prompts.json rendered with
// eval.py's settings, held to lower bounds the model passes with margin (full figures: npm run eval:model).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  createRenderService,
  type RenderService,
} from '../../src/engine/index';
import { judgeImage, roundLikePython, scoreSet, type EvalItem, type JudgeVerdict, type SetScore } from '../../scripts/eval/index';
import { loadEvalSets, renderEvalImage, shuffledPrompts } from '../../scripts/eval/evalSets';
import { modelDir, modelName, repoRoot } from './modelUnderTest';

const JUDGE_FIXTURES = join(repoRoot, 'test', 'fixtures', 'reference', 'judge');
const PROMPTS = join(repoRoot, 'tools', 'tiny_model', 'results', 'eval_prompts.json');

interface JudgeCase {
  file: string;
  note: string;
  width: number;
  height: number;
  verdict: JudgeVerdict;
}
interface JudgeReference {
  cases: JudgeCase[];
  scores: { items: EvalItem[]; score: SetScore }[];
}

describe('pixel judge and scoring vs tools/tiny_model (judge.py, eval.py)', () => {
  const reference = JSON.parse(readFileSync(join(JUDGE_FIXTURES, 'verdicts.json'), 'utf8')) as JudgeReference;

  test('every fixture image gets judge.py\'s verdict (colours exactly, centroid within 1e-12)', async () => {
    assert.ok(reference.cases.length >= 20, 'too few judge cases');
    for (const c of reference.cases) {
      const { data, info } = await sharp(join(JUDGE_FIXTURES, c.file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height, info.channels], [c.width, c.height, 3], c.file);
      const v = judgeImage({ data: new Uint8Array(data), width: info.width, height: info.height });
      assert.equal(v.background, c.verdict.background, `${c.file} (${c.note}): background`);
      assert.equal(v.object, c.verdict.object, `${c.file} (${c.note}): object`);
      for (const axis of ['x', 'y'] as const) {
        const expected = c.verdict[axis];
        if (expected === null) assert.equal(v[axis], null, `${c.file}: ${axis}`);
        else assert.ok(v[axis] !== null && Math.abs(v[axis] - expected) <= 1e-12, `${c.file}: ${axis} ${v[axis]} vs ${expected}`);
      }
    }
  });

  test('the fixtures exercise both sides of every rule', () => {
    const byFile = new Map(reference.cases.map((c) => [c.file, c.verdict]));
    // Guards against a regenerated fixture losing its edge cases.
    assert.equal(byFile.get('threshold_81.png')?.object, null);
    assert.notEqual(byFile.get('threshold_82.png')?.object, null);
    assert.notEqual(byFile.get('distance_60.png')?.object, byFile.get('distance_61.png')?.object);
    assert.equal(byFile.get('corners_twice.png')?.background, 'orange');
  });

  test('scoring gives eval.py\'s figures, rounding ties to even like Python', () => {
    assert.ok(reference.scores.length >= 2);
    for (const { items, score } of reference.scores) {
      const verdicts = reference.cases.slice(0, items.length).map((c) => c.verdict);
      assert.deepEqual(scoreSet(items, verdicts), score);
    }
    // Python: round(6.25, 1) == 6.2, round(6.75, 1) == 6.8, round(0.15, 1) == 0.1 (0.15 is below the tie).
    assert.deepEqual([6.25, 6.75, 56.25, 0.15, 84.375, 99.95, 100].map(roundLikePython), [6.2, 6.8, 56.2, 0.1, 84.4, 100, 100]);
  });

  test('a judge input of the wrong size is refused', () => {
    assert.throws(() => judgeImage({ data: new Uint8Array(10), width: 2, height: 2 }), RangeError);
    assert.throws(() => judgeImage({ data: new Uint8Array(0), width: 0, height: 0 }), RangeError);
  });
});

// A fixed subset (the first items of each set); its control shifts prompts by a third of the subset.
const SUBSET = 24;
const BOUNDS = {
  seenBackground: 80,
  seenObject: 60,
  heldOutBackground: 70,
  heldOutObject: 30,
  // Horizontal side over every seen and held-out item whose position names left or right (corners
  // included): about 30 items, so one miss costs about 3 points.
  horizontal: 85,
  // The control must fall clearly below the seen set on object and background colour.
  controlMargin: 30,
} as const;

describe(`evaluation of ${modelName} through the engine (${SUBSET} seen, ${SUBSET} held out, ${SUBSET} shuffled)`, () => {
  let engine: RenderService;
  const projectDir = mkdtempSync(join(tmpdir(), 'imgprompt-eval-'));
  const sets = loadEvalSets(PROMPTS);
  const seen = sets.seen.slice(0, SUBSET);
  const held = sets.held_out.slice(0, SUBSET);

  const verdictsFor = async (items: readonly EvalItem[], prompts: readonly string[]) => {
    const out: JudgeVerdict[] = [];
    for (let i = 0; i < items.length; i++) out.push(judgeImage(await renderEvalImage({ engine, modelDir, projectDir }, prompts[i], items[i].seed)));
    return out;
  };

  before(async () => {
    engine = await createRenderService({ threads: 1 });
  });
  after(async () => {
    await engine.dispose();
    rmSync(projectDir, { recursive: true, force: true });
  });

  test('the prompt file holds enough of both sets', () => {
    assert.ok(seen.length === SUBSET && held.length === SUBSET, `${PROMPTS} holds ${sets.seen.length} seen and ${sets.held_out.length} held-out items`);
  });

  test('colours, sides and the shuffled control stay above their lower bounds', async () => {
    const seenVerdicts = await verdictsFor(seen, seen.map((it) => it.prompt));
    const heldVerdicts = await verdictsFor(held, held.map((it) => it.prompt));
    const controlVerdicts = await verdictsFor(seen, shuffledPrompts(seen));
    const s = scoreSet(seen, seenVerdicts);
    const h = scoreSet(held, heldVerdicts);
    const c = scoreSet(seen, controlVerdicts);
    const all = scoreSet([...seen, ...held], [...seenVerdicts, ...heldVerdicts]);
    const figures = `seen ${JSON.stringify(s)}\nheld out ${JSON.stringify(h)}\ncontrol ${JSON.stringify(c)}`;
    const atLeast = (value: number | null, bound: number, what: string) => assert.ok(value !== null && value >= bound, `${what} ${value}% < ${bound}%\n${figures}`);
    atLeast(s.background, BOUNDS.seenBackground, 'seen background');
    atLeast(s.object_colour, BOUNDS.seenObject, 'seen object colour');
    atLeast(h.background, BOUNDS.heldOutBackground, 'held-out background');
    atLeast(h.object_colour, BOUNDS.heldOutObject, 'held-out object colour');
    atLeast(all.horizontal_incl_corners, BOUNDS.horizontal, 'left/right (seen + held out, corners included)');
    for (const field of ['object_colour', 'background'] as const) {
      const [control, target] = [c[field], s[field]];
      assert.ok(control !== null && target !== null && control <= target - BOUNDS.controlMargin, `control ${field} ${control}% is not ${BOUNDS.controlMargin} points below seen ${target}%\n${figures}`);
    }
  });
});
