// The committed sample figures are what their scenes render today: the same check a docs repository's
// CI runs with `imgprompt verify`. After changing the model or the engine, re-render with `npm run samples`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './modelUnderTest';

test('imgprompt verify samples: every committed sample figure is up to date', { skip: process.env.IMGPROMPT_TEST_MODEL_DIR ? 'another model is under test' : false }, () => {
  const cli = join(repoRoot, 'out', 'cli.js');
  if (!existsSync(cli)) assert.equal(spawnSync(process.execPath, [join(repoRoot, 'esbuild.mjs')], { cwd: repoRoot }).status, 0);
  const result = spawnSync(process.execPath, [cli, 'verify', 'samples'], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}\nre-render with: npm run samples`);
  assert.match(result.stderr, /verified \d+ figures: \d+ up to date, 0 with problems/);
});
