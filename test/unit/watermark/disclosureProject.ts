// A temporary project made from the disclosure fixture (test/fixtures/disclosure) with three figures: a
// `team` and a `public` imgprompt render, and a photo without metadata. Shared by the CLI and editor tests.
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encodePixelsToPng, encodePngWithMetadata } from '../../../src/engine/index';

const fixture = resolve(__dirname, '../../fixtures/disclosure');

export async function disclosureProject(prefix: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cpSync(fixture, dir, { recursive: true });
  mkdirSync(join(dir, 'figures'));
  const pixels = { data: new Uint8Array(8 * 8 * 3).fill(200), width: 8, height: 8, channels: 3 as const };
  const recipe = (audience: string) => ({ prompt: 'a shape', seed: '1', steps: 4, model: { name: 'tiny-shapes' }, hash: 'ab'.repeat(32), audience });
  writeFileSync(join(dir, 'figures', 'team.png'), await encodePngWithMetadata(pixels, recipe('team')));
  writeFileSync(join(dir, 'figures', 'public.png'), await encodePngWithMetadata(pixels, recipe('public')));
  writeFileSync(join(dir, 'figures', 'photo.png'), await encodePixelsToPng(pixels));
  return dir;
}
