// The figure's audience (#21) in the XMP packet: `imgprompt:audience` under our declared namespace, read
// back by our reader (also once the recipe chunk is stripped) and by exiftool when it is installed.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePngWithMetadata, type RawImage } from '../../../src/engine/output/encodePng';
import { encodePngChunks, parsePngChunks } from '../../../src/engine/output/pngChunks';
import { IMGPROMPT_XMP_NS, buildXmpPacket, readXmpProvenance } from '../../../src/engine/output/xmpPacket';
import { readImageMetadata } from '../../../src/engine/interop/readImageMetadata';

const tmp = mkdtempSync(join(tmpdir(), 'imgprompt-xmp-audience-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const image: RawImage = { data: new Uint8Array(8 * 8 * 3).fill(90), width: 8, height: 8, channels: 3 };
const recipe = { format: 'imgprompt.recipe/1', prompt: 'a red circle', seed: '1', width: 8, height: 8, purpose: 'lab notes', audience: 'public', hash: 'ab'.repeat(32), engine: { version: '0.1.0', onnxruntime: '1.30.0' } };

/** The PNG without its `imgprompt` recipe chunk (as a tool that keeps XMP but drops unknown text would leave it). */
function withoutRecipe(png: Buffer): Buffer {
  return encodePngChunks(parsePngChunks(png).filter((c) => !(c.type === 'iTXt' && Buffer.from(c.data).subarray(0, 10).toString('latin1') === 'imgprompt\0')));
}

function exiftoolSkip(): string | false {
  return spawnSync('exiftool', ['-ver'], { encoding: 'utf8' }).status === 0 ? false : 'exiftool is not installed';
}

describe('audience in the XMP packet', () => {
  test('is written under the declared imgprompt namespace and read back', () => {
    const xmp = buildXmpPacket({ creatorTool: 'imgprompt 0.1.0', audience: 'team' });
    assert.ok(xmp.includes(`xmlns:imgprompt="${IMGPROMPT_XMP_NS}"`));
    assert.match(xmp, /imgprompt:audience="team"/);
    assert.equal(readXmpProvenance(xmp).audience, 'team');
    assert.equal(readXmpProvenance(buildXmpPacket({ creatorTool: 'x' })).audience, undefined);
  });

  test('readImageMetadata takes it from the recipe, and from the XMP once the recipe chunk is stripped', async () => {
    const png = await encodePngWithMetadata(image, recipe);
    assert.equal(readImageMetadata(png).provenance.audience, 'public');
    const stripped = withoutRecipe(png);
    const report = readImageMetadata(stripped);
    assert.equal(report.recipe, undefined, 'the recipe chunk is gone');
    assert.equal(report.provenance.audience, 'public');
  });

  test('exiftool -a -u -G1 -j shows it', { skip: exiftoolSkip() }, async () => {
    const file = join(tmp, 'fig.png');
    writeFileSync(file, await encodePngWithMetadata(image, recipe));
    const [tags] = JSON.parse(execFileSync('exiftool', ['-a', '-u', '-G1', '-j', file], { encoding: 'utf8' })) as Record<string, unknown>[];
    assert.equal(tags['XMP-imgprompt:Audience'], 'public', JSON.stringify(tags));
    assert.equal(tags['XMP-imgprompt:Purpose'], 'lab notes');
  });
});
