// The TypeScript engine against the PyTorch reference (test/fixtures/reference/model/trajectory.json,
// written by tools/tiny_model/make_fixtures.py from the shipped weights): same prompt ids, same initial
// noise, the latents after every Euler step within 1e-3 (onnxruntime vs torch float32 kernels), and
// the decoded image within ±1 per channel.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createRenderService,
  loadCLIPTokenizer,
  resolveScene,
} from '../../src/engine/index';
import { modelDir, repoRoot, tempProject, jobsOf } from './modelUnderTest';

const FIXTURE = join(repoRoot, 'test', 'fixtures', 'reference', 'model', 'trajectory.json');

interface Encoded {
  shape: number[];
  base64: string;
}
interface Trajectory {
  onnx_sha256: Record<string, string>;
  prompt: string;
  negative: string;
  seed: number;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  prompt_ids: number[];
  negative_ids: number[];
  latents_after_step: Encoded[];
  image_rgb_uint8_base64: string;
}

function floats(e: Encoded): Float32Array {
  const bytes = Buffer.from(e.base64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

describe('engine vs the PyTorch reference trajectory', { skip: process.env.IMGPROMPT_TEST_MODEL_DIR ? 'another model is under test' : false }, () => {
  const reference = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Trajectory;

  test('the fixture was made from the shipped weights', () => {
    for (const [component, sha] of Object.entries(reference.onnx_sha256)) {
      const file = join(modelDir, component, 'model.onnx');
      assert.ok(existsSync(file), `${file} is missing`);
      const actual = createHash('sha256').update(readFileSync(file)).digest('hex');
      assert.equal(actual, sha, `${component}/model.onnx changed since the fixture was made: rerun tools/tiny_model/make_fixtures.py`);
    }
  });

  test('prompt ids, every step and the final pixels match PyTorch', async () => {
    const tokenizer = await loadCLIPTokenizer(join(modelDir, 'tokenizer'));
    assert.deepEqual(tokenizer.encodePrompt(reference.prompt).ids, reference.prompt_ids);
    assert.deepEqual(tokenizer.encodePrompt(reference.negative).ids, reference.negative_ids);

    const project = tempProject();
    const engine = await createRenderService({ threads: 2 });
    try {
      const text = [
        `model: tiny-shapes`,
        `prompt: ${JSON.stringify(reference.prompt)}`,
        `negative: ${JSON.stringify(reference.negative)}`,
        `seed: ${reference.seed}`,
        `size: {width: ${reference.width}, height: ${reference.height}}`,
        `sampler: euler`,
        `schedule: normal`,
        `steps: ${reference.steps}`,
        `guidance: ${reference.guidance}`,
        // PyTorch's pixels carry no watermark.
        'watermark: off',
      ].join('\n');
      const file = project.write('trajectory.imgprompt', text);
      const resolved = resolveScene(text, { file, projectRoot: project.dir, builtinModelsDir: join(repoRoot, 'models') });
      const [job] = await jobsOf(engine, resolved, project.dir);
      const worst: number[] = [];
      const result = await engine.render(job, {
        onStepLatents: (step, latents) => {
          const expected = floats(reference.latents_after_step[step - 1]);
          assert.equal(latents.length, expected.length);
          let max = 0;
          for (let i = 0; i < latents.length; i++) max = Math.max(max, Math.abs(latents[i] - expected[i]));
          worst.push(max);
        },
      });
      assert.equal(worst.length, reference.steps);
      worst.forEach((max, i) => assert.ok(max <= 1e-3, `step ${i + 1}: max |ours − torch| = ${max.toExponential(2)} > 1e-3`));
      const pixels = Buffer.from(reference.image_rgb_uint8_base64, 'base64');
      assert.equal(result.image.data.length, pixels.length);
      let maxPixel = 0;
      for (let i = 0; i < pixels.length; i++) maxPixel = Math.max(maxPixel, Math.abs(result.image.data[i] - pixels[i]));
      assert.ok(maxPixel <= 1, `final image differs from torch's by up to ${maxPixel}/255`);
    } finally {
      await engine.dispose();
      project.cleanup();
    }
  });
});
