// The invisible watermark on real images (the samples and fixtures): found with the right payload after
// each attack of the bench's table, never found in unmarked images, cheap in PSNR, and deterministic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  CODEWORD_BITS,
  crc16,
  decodeCodeword,
  DETECTION_THRESHOLD,
  decodeImageRGB,
  detectWatermark,
  embedWatermark,
  encodeCodeword,
  payloadOfHash,
  watermarkSoftBinding,
  type RGBImage,
} from '../../../src/engine/index';
import { WATERMARK_ATTACKS } from '../../../src/engine/watermark/watermarkAttacks';

const repoRoot = join(__dirname, '..', '..', '..');

function pngsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...pngsUnder(path));
    else if (entry.name.endsWith('.png')) out.push(path);
  }
  return out.sort();
}

async function load(path: string): Promise<RGBImage | undefined> {
  try {
    return await decodeImageRGB(readFileSync(path), path);
  } catch {
    return undefined; // the fixtures include deliberately broken files
  }
}

function psnr(a: RGBImage, b: RGBImage): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += (a.data[i] - b.data[i]) ** 2;
  return 10 * Math.log10((255 * 255) / (sum / a.data.length));
}

test('the codeword is the payload and its CRC-16/CCITT-FALSE; a flipped bit fails the check', () => {
  assert.equal(crc16(Buffer.from('123456789')), 0x29b1); // the catalogue's check value for CRC-16/CCITT-FALSE
  const bits = encodeCodeword('deadbeef');
  assert.equal(bits.length, CODEWORD_BITS);
  assert.equal(decodeCodeword(bits), 'deadbeef');
  for (const i of [0, 17, 31, 40]) {
    const flipped = Uint8Array.from(bits);
    flipped[i] ^= 1;
    assert.equal(decodeCodeword(flipped), undefined, `bit ${i}`);
  }
  assert.equal(payloadOfHash('sha256:0123456789abcdef'), '01234567');
  assert.throws(() => payloadOfHash('xyz'), /hex recipe hash/);
});

// Unmarked images only (the committed samples carry the watermark already): renders and drawings.
const MARKED = [
  'test/fixtures/reference/judge/eval_seen_1.png',
  'test/fixtures/reference/judge/scene_2.png',
  'test/fixtures/reference/hints/scene3_160x96.input.png',
  'samples/sketch.png',
  'test/fixtures/hints/controlnet_input_scribble_example.png',
];

for (const [name, attack] of Object.entries(WATERMARK_ATTACKS)) {
  test(`the payload is read back after ${name}`, async () => {
    const misses: string[] = [];
    for (const [i, file] of MARKED.entries()) {
      const image = (await load(join(repoRoot, file)))!;
      const payload = (0x1234567 * (i + 3)).toString(16).padStart(8, '0').slice(-8);
      const found = detectWatermark(await attack(embedWatermark(image, payload)));
      if (!found.detected || found.payload !== payload) misses.push(`${file} (confidence ${found.confidence.toFixed(2)})`);
    }
    // A heavy attack may lose the odd image (the bench reports rates over 50+); the table's claims hold per image here.
    const allowed = name === 'png→webp' || name === 'jpeg q50' ? 1 : 0;
    assert.ok(misses.length <= allowed, `missed after ${name}: ${misses.join(', ')}`);
  });
}

test('the watermark costs at least 40 dB PSNR, is deterministic and does not touch its input', async () => {
  for (const file of MARKED) {
    const image = (await load(join(repoRoot, file)))!;
    const before = Buffer.from(image.data);
    const a = embedWatermark(image, 'cafe0001');
    const b = embedWatermark(image, 'cafe0001');
    assert.ok(Buffer.from(a.data).equals(Buffer.from(b.data)));
    assert.ok(Buffer.from(image.data).equals(before));
    assert.ok(psnr(image, a) >= 40, `${file}: ${psnr(image, a).toFixed(1)} dB`);
  }
});

test('no false positive on 200 unmarked images (the fixtures and their crops, JPEGs and rescales)', async () => {
  // Not samples/: its figures are rendered with the watermark on.
  const roots = [join(repoRoot, 'test', 'fixtures'), join(repoRoot, '..', 'shared', 'fixtures')];
  const bases: RGBImage[] = [];
  for (const root of roots) {
    let files: string[] = [];
    try {
      files = pngsUnder(root);
    } catch {
      continue; // ../shared/fixtures exists only in the lead's checkout layout
    }
    for (const file of files) {
      const image = await load(file);
      if (image && image.width >= 16 && image.height >= 16) bases.push(image);
    }
  }
  assert.ok(bases.length >= 50, `only ${bases.length} readable fixture images`);
  let checked = 0;
  let worst = 0;
  const variants = [
    (img: RGBImage) => Promise.resolve(img),
    (img: RGBImage) => WATERMARK_ATTACKS['crop 10%'](img),
    (img: RGBImage) => WATERMARK_ATTACKS['jpeg q75'](img),
    async (img: RGBImage) => {
      const { data, info } = await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } })
        .resize(Math.round(img.width * 1.37), Math.round(img.height * 1.37))
        .raw()
        .toBuffer({ resolveWithObject: true });
      return { data: new Uint8Array(data), width: info.width, height: info.height };
    },
  ];
  for (const variant of variants) {
    for (const base of bases) {
      if (checked >= 200) break;
      const found = detectWatermark(await variant(base));
      worst = Math.max(worst, found.confidence);
      assert.equal(found.detected, false, `false positive (payload ${found.payload}, confidence ${found.confidence.toFixed(2)})`);
      checked++;
    }
  }
  assert.equal(checked, 200);
  assert.ok(worst < DETECTION_THRESHOLD, `an unmarked image reached confidence ${worst.toFixed(2)}`);
});

test('the C2PA soft-binding assertion carries the algorithm and the payload bytes for the whole image', () => {
  const { label, data } = watermarkSoftBinding('9a24807f');
  assert.equal(label, 'c2pa.soft-binding');
  assert.equal(data.alg, 'io.imgprompt.watermark.haar-ll2-ss.1');
  assert.deepEqual(data.blocks, [{ scope: {}, value: Buffer.from([0x9a, 0x24, 0x80, 0x7f]).toString('base64') }]);
  assert.equal(data.pad.length, 0);
  assert.throws(() => watermarkSoftBinding('9a24'), /8 hex digits/);
});
