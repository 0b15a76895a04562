// The TypeScript preprocessors against tools/tiny_model/hints.py (numpy, the one the ControlNet is trained
// with) on the cases in test/fixtures/reference/hints/. Both compute in exact integers up to the gradient
// and then with the same IEEE operations in the same order, so the masks are expected to be identical;
// the brief's acceptance floor is 99.5 % agreement per case, checked separately so a drift shows its size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { canny } from '../../../src/engine/control/canny';
import { scribble } from '../../../src/engine/control/scribble';

const dir = join(__dirname, '../../fixtures/reference/hints');

interface Case {
  name: string;
  width: number;
  height: number;
  outputs: Record<string, { low?: number; high?: number; sigma?: number }>;
}
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { cases: Case[] };

async function readGrey(path: string): Promise<Uint8Array> {
  return new Uint8Array(await sharp(path).extractChannel(0).raw().toBuffer());
}

test('the reference set covers canny and scribble on scenes of both sizes', () => {
  const outputs = manifest.cases.flatMap((c) => Object.keys(c.outputs));
  assert.ok(outputs.filter((o) => o.startsWith('canny')).length >= 8);
  assert.ok(outputs.includes('scribble'));
  assert.ok(manifest.cases.some((c) => c.width === 128 && c.height === 128) && manifest.cases.some((c) => c.width === 160 && c.height === 96));
});

for (const c of manifest.cases) {
  test(`${c.name}: TypeScript masks equal hints.py's`, async () => {
    const { data, info } = await sharp(join(dir, `${c.name}.input.png`)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [c.width, c.height]);
    const rgb = new Uint8Array(data);
    for (const [output, params] of Object.entries(c.outputs)) {
      const expected = await readGrey(join(dir, `${c.name}.${output}.png`));
      const got = output === 'scribble' ? scribble(rgb, c.width, c.height) : canny(rgb, c.width, c.height, params);
      let agree = 0;
      for (let i = 0; i < got.length; i++) if (got[i] === expected[i]) agree++;
      assert.ok(agree >= 0.995 * got.length, `${output}: ${agree} of ${got.length} pixels agree`);
      assert.deepEqual(got, expected, `${output}: ${got.length - agree} pixels differ`);
    }
  });
}
