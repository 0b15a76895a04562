// PNG fixtures for the preview tests: a small figure (a circle above a square) stamped with an imgprompt
// recipe exactly as the engine stores it, in two versions that differ in the circle's colour and the
// prompt. Used bundled by the extension-host suite and, through tsx, by the UI suite:
//   node --import tsx test/vscode/suite/previewFixtures.ts OUT.png a|b [SEED]
import { writeFileSync } from 'node:fs';
import { encodePngWithMetadata } from '../../../src/engine/output/encodePng';

export type FixtureVersion = 'a' | 'b';

export const FIXTURE_SIZE = 128;

export const FIXTURE_PROMPTS: Record<FixtureVersion, string> = {
  a: 'a red circle above a blue square, flat vector illustration',
  b: 'a green circle above a blue square, flat vector illustration, soft shadows',
};

/** The recipe stored in the fixture (the engine's PortableRecipe fields). */
export function fixtureRecipe(version: FixtureVersion, seed = '1234'): Record<string, unknown> & { hash: string } {
  return {
    format: 'imgprompt/1',
    scene: 'preview.imgprompt',
    model: { name: 'tiny-shapes', hash: 'sha256:5f1c0ffee', shortHash: '5f1c0ffee' },
    prompt: FIXTURE_PROMPTS[version],
    negative: 'blurry',
    seed,
    width: FIXTURE_SIZE,
    height: FIXTURE_SIZE,
    sampler: 'euler_a',
    schedule: 'karras',
    steps: version === 'a' ? 12 : 16,
    guidance: 5.5,
    rng: 'torch-cpu-mt19937',
    loras: [],
    control: [],
    init: null,
    purpose: 'Shows the preview in the extension tests.',
    hash: `${version}${seed}`.padEnd(16, '0'),
    engine: { version: '0.1.0', onnxruntime: '1.30.0' },
  };
}

/** The fixture's pixels: light background, a circle (red in a, green in b) above a blue square. */
export function fixturePixels(version: FixtureVersion, seed = '1234'): Uint8Array {
  const n = FIXTURE_SIZE;
  const data = new Uint8Array(n * n * 3);
  // The seed shifts the circle a little, so variants differ visibly.
  const cx = 64 + (Number(BigInt(seed) % 17n) - 8);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const i = (y * n + x) * 3;
      let rgb = [236, 236, 228];
      if ((x - cx) ** 2 + (y - 36) ** 2 < 22 ** 2) rgb = version === 'a' ? [220, 40, 40] : [40, 170, 70];
      else if (x >= 36 && x < 92 && y >= 70 && y < 120) rgb = [40, 70, 200];
      data.set(rgb, i);
    }
  }
  return data;
}

export async function fixturePng(version: FixtureVersion, seed = '1234'): Promise<Buffer> {
  return encodePngWithMetadata({ data: fixturePixels(version, seed), width: FIXTURE_SIZE, height: FIXTURE_SIZE, channels: 3 }, fixtureRecipe(version, seed) as never);
}

if (require.main === module) {
  const [out, version, seed] = process.argv.slice(2);
  if (!out || (version !== 'a' && version !== 'b')) {
    console.error('usage: previewFixtures.ts OUT.png a|b [SEED]');
    process.exit(2);
  }
  void fixturePng(version, seed ?? '1234').then((png) => writeFileSync(out, png));
}
