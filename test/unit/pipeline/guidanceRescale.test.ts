// Classifier-free guidance and guidance_rescale against PyTorch (test/fixtures/reference/guidance,
// made by tools/reference/make_guidance_fixtures.py with diffusers' formula in float32).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rescaleGuided } from '../../../src/engine/index';
import { guide } from '../../../src/engine/pipeline/tensorMath';

interface Case {
  seed: number;
  guidance: number;
  guidanceRescale: number;
  uncond: string;
  cond: string;
  guided: string;
  rescaled: string;
}

const fixture = JSON.parse(readFileSync(join(__dirname, '../../fixtures/reference/guidance/rescale.json'), 'utf8')) as { cases: Case[] };

function floats(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** Largest absolute difference relative to the largest reference magnitude. */
function relMaxDiff(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

test('guidance and guidance_rescale match PyTorch (float32) within 1e-6 / 2e-6 relative', () => {
  assert.ok(fixture.cases.length >= 3);
  for (const c of fixture.cases) {
    const guided = guide(floats(c.uncond), floats(c.cond), c.guidance);
    assert.ok(relMaxDiff(guided, floats(c.guided)) < 1e-6, `seed ${c.seed}: CFG differs by ${relMaxDiff(guided, floats(c.guided))}`);
    const rescaled = rescaleGuided(guided, floats(c.cond), c.guidanceRescale);
    const d = relMaxDiff(rescaled, floats(c.rescaled));
    // torch reduces the standard deviations in float32; we do it in float64.
    assert.ok(d < 2e-6, `seed ${c.seed}: rescale differs by ${d}`);
    assert.ok(relMaxDiff(rescaled, guided) > 1e-3, 'the rescale changes the prediction');
  }
});

test('guidance_rescale 1 gives the prompt-only standard deviation; 0 leaves the prediction as it is', () => {
  const c = fixture.cases[0];
  const cond = floats(c.cond);
  const guided = guide(floats(c.uncond), cond, c.guidance);
  const std = (v: Float32Array) => {
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    return Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
  };
  assert.ok(Math.abs(std(rescaleGuided(guided, cond, 1)) - std(cond)) < 1e-5 * std(cond));
  assert.deepEqual(rescaleGuided(guided, cond, 0), guided);
});
