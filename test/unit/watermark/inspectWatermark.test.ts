// `imgprompt inspect` reads the watermark from the pixels of any image: a PNG whose recipe it matches, and
// a JPEG with no metadata at all; a file no decoder reads is still an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { decodeImageRGB, embedWatermark, encodePngWithMetadata } from '../../../src/engine/index';
import { main } from '../../../src/cli/main';
import type { CliIO } from '../../../src/cli/command';

const fixture = resolve(__dirname, '../../fixtures/reference/judge/eval_seen_1.png');

test('inspect: the payload in a PNG matches its recipe hash; a stripped JPEG still shows it; a non-image fails', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-inspect-'));
  try {
    const hash = '5eed1234' + 'ab'.repeat(28);
    const marked = embedWatermark(await decodeImageRGB(readFileSync(fixture), fixture), hash.slice(0, 8));
    const raw = { data: marked.data, width: marked.width, height: marked.height, channels: 3 as const };
    writeFileSync(join(dir, 'fig.png'), await encodePngWithMetadata(raw, { prompt: 'p', hash }));
    writeFileSync(join(dir, 'fig.jpg'), await sharp(Buffer.from(marked.data), { raw: { width: marked.width, height: marked.height, channels: 3 } }).jpeg({ quality: 75 }).toBuffer());
    writeFileSync(join(dir, 'other.png'), await encodePngWithMetadata(raw, { prompt: 'p', hash: 'f'.repeat(64) }));
    writeFileSync(join(dir, 'junk.jpg'), 'not an image');
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIO = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), isTTY: false, cwd: dir, env: {} };
    const code = await main(['inspect', 'fig.png', 'fig.jpg', 'other.png', 'junk.jpg'], io, new AbortController().signal);
    const text = out.join('');
    assert.equal(code, 1, 'junk.jpg must fail');
    assert.match(text, /fig\.png: imgprompt metadata[\s\S]*watermark\s+present: payload 5eed1234, the recipe hash's first 32 bits/);
    assert.match(text, /fig\.jpg: not a PNG[\s\S]*watermark\s+present: payload 5eed1234, the first 32 bits of the recipe hash/);
    assert.match(text, /other\.png:[\s\S]*payload 5eed1234, which is NOT this recipe's hash/);
    assert.match(err.join(''), /junk\.jpg/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
