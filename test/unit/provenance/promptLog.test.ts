// The prompt log's rows: one Markdown table row per render, append-only, cells escaped so a prompt or
// path with pipes or line breaks never splits or adds a row, and parsed back to the same values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendPromptLog, parsePromptLog, PROMPT_LOG_PATH, type PortableRecipe } from '../../../src/engine/index';

const recipe = {
  scene: 'figs/a|b.imgprompt',
  hash: 'f'.repeat(64),
  model: { name: 'tiny-shapes', hash: `sha256:${'a'.repeat(64)}`, shortHash: 'x' },
  loras: [{ file: 'loras/outline', weight: 0.8, hash: `sha256:${'b'.repeat(64)}` }],
  control: [],
} as unknown as PortableRecipe;

test('rows append one per render, escaped, and parse back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-log-'));
  try {
    await appendPromptLog(dir, { time: new Date('2026-01-02T03:04:05.678Z'), recipe, outputPath: join(dir, 'figs', 'a.png'), outputSha256: 'c'.repeat(64), who: 'Ada | Lovelace\nsecond line' });
    await appendPromptLog(dir, { time: new Date('2026-01-02T03:05:00Z'), recipe, outputPath: join(dir, 'figs', 'a.png'), outputSha256: 'd'.repeat(64), who: '' });
    const text = readFileSync(join(dir, PROMPT_LOG_PATH), 'utf8');
    assert.equal(text.split('\n').filter((l) => l.startsWith('| 2026')).length, 2);
    const rows = parsePromptLog(text);
    assert.equal(rows.length, 2);
    assert.deepEqual(rows[0], {
      'time (UTC)': '2026-01-02T03:04:05Z',
      scene: 'figs/a|b.imgprompt',
      output: 'figs/a.png',
      'recipe hash': 'f'.repeat(64),
      'model hashes': `tiny-shapes@${'a'.repeat(16)}, loras/outline@${'b'.repeat(16)}`,
      'output sha256': 'c'.repeat(64),
      who: 'Ada | Lovelace second line',
    });
    assert.equal(rows[1].who, 'unknown');
    // The header is written once, first.
    assert.equal(text.indexOf('| time (UTC) |'), text.lastIndexOf('| time (UTC) |'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
