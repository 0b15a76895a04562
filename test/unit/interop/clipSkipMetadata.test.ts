// clip_skip in the metadata: written into the A1111 infotext as A1111 writes it ("Clip skip: N", only
// above 1, after "Denoising strength"), read back from A1111 infotexts and from our own recipes, each
// value checked against the option's declaration (an integer from 1 to 12).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInfotext } from '../../../src/engine/interop/automatic1111';
import { metadataFromRecipe } from '../../../src/engine/interop/imgprompt';
import { sceneFromMetadata } from '../../../src/engine/interop/sceneFromMetadata';
import { formatInfotext } from '../../../src/engine/output/infotext';
import { parseScene } from '../../../src/engine/scene/parseScene';

const recipe = { prompt: 'a red circle', steps: 20, sampler: 'euler', schedule: 'normal', guidance: 7, seed: 1, width: 512, height: 512 };

describe('Clip skip in the infotext', () => {
  test('written when above 1, in A1111 order; not written at 1 or without options', () => {
    assert.match(formatInfotext({ ...recipe, options: { clip_skip: 2 } }), /Size: 512x512, Clip skip: 2(,|$)/);
    assert.match(formatInfotext({ ...recipe, init: { strength: 0.5 }, options: { clip_skip: 3, guidance_rescale: 0.7 } }), /Denoising strength: 0\.5, Clip skip: 3/);
    assert.doesNotMatch(formatInfotext({ ...recipe, options: { clip_skip: 1 } }), /Clip skip/);
    assert.doesNotMatch(formatInfotext(recipe), /Clip skip/);
  });

  test('read back from an A1111 infotext into the scene option', () => {
    const meta = parseInfotext('a (red:1.2) circle\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 512x512, Clip skip: 2, Model: x');
    assert.deepEqual(meta.options, { clip_skip: 2 });
    assert.equal(meta.unmapped['Clip skip'], undefined);
    const scene = parseScene(sceneFromMetadata(meta));
    assert.deepEqual(scene.diagnostics.filter((d) => d.severity === 'error'), []);
    assert.deepEqual(scene.scene.options, { clip_skip: 2 });
    assert.equal(scene.scene.prompt, 'a (red:1.2) circle');
  });

  test('our own infotext round-trips', () => {
    assert.deepEqual(parseInfotext(formatInfotext({ ...recipe, options: { clip_skip: 4 } })).options, { clip_skip: 4 });
  });

  test('1 is the default (no option); values the option refuses stay visible as unmapped', () => {
    const base = 'x\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Clip skip: ';
    assert.equal(parseInfotext(`${base}1`).options, undefined);
    assert.equal(parseInfotext(`${base}1`).unmapped['Clip skip'], undefined);
    for (const bad of ['13', '0', '2.5', 'two']) {
      const meta = parseInfotext(`${base}${bad}`);
      assert.equal(meta.options, undefined, bad);
      assert.equal(meta.unmapped['Clip skip'], bad);
    }
  });

  test("our recipe's options: an integer option refuses a fraction", () => {
    const base = { format: 1, prompt: 'x' };
    assert.deepEqual(metadataFromRecipe({ ...base, options: { clip_skip: 2 } }).options, { clip_skip: 2 });
    const fraction = metadataFromRecipe({ ...base, options: { clip_skip: 2.5 } });
    assert.equal(fraction.options, undefined);
    assert.equal(fraction.unmapped['options.clip_skip'], '2.5');
  });
});
