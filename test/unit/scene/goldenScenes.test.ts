// Golden fixtures: every test/fixtures/scenes/NAME.imgprompt is analysed and compared with
// NAME.expected.json (its diagnostics, and the recipe and hash when it resolves). Run with
// UPDATE_GOLDEN=1 to rewrite the expectations after an intended change, then review the diff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { analyzeScene, recipeHash, type SceneDiagnostic } from '../../../src/engine/index';

const fixtures = resolve(__dirname, '../../fixtures');
const scenesDir = join(fixtures, 'scenes');
/** A fixed engine version, so an ENGINE_VERSION bump does not rewrite every golden hash. */
const ENGINE = '0.0.0-golden';

function formatRange(d: SceneDiagnostic): string {
  const { start, end } = d.range;
  return `${start.line + 1}:${start.character + 1}-${end.line + 1}:${end.character + 1} ${d.severity} ${d.code}: ${d.message}`;
}

/** Machine-independent: the fixtures folder's absolute path becomes <fixtures>. */
function portable(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value).split(JSON.stringify(fixtures).slice(1, -1)).join('<fixtures>'));
}

function actual(name: string): unknown {
  const file = join(scenesDir, `${name}.imgprompt`);
  const analysis = analyzeScene(readFileSync(file, 'utf8'), {
    file,
    projectRoot: scenesDir,
    modelSearchPaths: [join(fixtures, 'models')],
  });
  const result: Record<string, unknown> = { diagnostics: analysis.diagnostics.map(formatRange) };
  if (analysis.resolved) {
    const { recipe, variants } = analysis.resolved;
    result.hash = recipeHash(recipe, { engineVersion: ENGINE });
    result.recipe = recipe;
    result.variants = variants.map((v) => ({ seed: v.seed, output: v.output, hash: recipeHash(v, { engineVersion: ENGINE }) }));
  }
  return portable(result);
}

const names = readdirSync(scenesDir)
  .filter((f) => f.endsWith('.imgprompt'))
  .map((f) => f.slice(0, -'.imgprompt'.length))
  .sort();

test('the golden fixture set is not empty', () => {
  assert.ok(names.length >= 8, `found ${names.length} fixtures in ${scenesDir}`);
});

for (const name of names) {
  test(`golden scene ${name}`, () => {
    const expectedPath = join(scenesDir, `${name}.expected.json`);
    const got = actual(name);
    if (process.env.UPDATE_GOLDEN) writeFileSync(expectedPath, `${JSON.stringify(got, null, 2)}\n`);
    assert.ok(existsSync(expectedPath), `${expectedPath} is missing; run with UPDATE_GOLDEN=1 to create it`);
    assert.deepEqual(got, JSON.parse(readFileSync(expectedPath, 'utf8')));
  });
}
