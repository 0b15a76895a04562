// Few-step and v-prediction models end to end, on copies of the embedded tiny-shapes model whose
// scheduler config, model_index.json or UNet are edited the way real exports differ: SD-Turbo (Euler
// ancestral, trailing spacing), a Turbo recognised only by its name, LCM (LCMScheduler, with and without a
// guidance-embedding UNet), SD 2.x-v with zero terminal SNR, and flow-matching configs (SD3, FLUX), which
// are refused. Checks the defaults a scene inherits, that renders run and are finite, and the refusals.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeScene, createRenderService, resolveScene, type RenderService, type RenderJob } from '../../src/engine/index';
import { readModelConfig } from '../../src/engine/model/modelConfig';
import { effectiveSchedulerConfig } from '../../src/engine/model/modelDefaults';
import { createScheduler } from '../../src/engine/schedulers';
import { jobsOf, modelDir, tempProject } from './modelUnderTest';

const LCM_UNET = join(__dirname, '../fixtures/reference/lcm/unet');

type Json = Record<string, unknown>;

describe('few-step, v-prediction and flow-matching models', () => {
  let engine: RenderService;
  const project = tempProject();
  const modelsDir = join(project.dir, 'models');

  /** A copy of tiny-shapes named `name`, its scheduler config and model_index.json edited. */
  const variant = (name: string, edit: { scheduler?: (c: Json) => Json; index?: (i: Json) => Json; lcmUNet?: boolean } = {}): string => {
    const dir = join(modelsDir, name);
    cpSync(modelDir, dir, { recursive: true });
    const rewrite = (file: string, change?: (j: Json) => Json): void => {
      if (!change) return;
      const path = join(dir, file);
      writeFileSync(path, JSON.stringify(change(JSON.parse(readFileSync(path, 'utf8')) as Json), null, 2));
    };
    rewrite('scheduler/scheduler_config.json', edit.scheduler);
    rewrite('model_index.json', edit.index);
    if (edit.lcmUNet) for (const file of ['model.onnx', 'config.json']) copyFileSync(join(LCM_UNET, file), join(dir, 'unet', file));
    return dir;
  };
  const sceneFor = (model: string, extra = '') => {
    const text = `model: ${model}\nprompt: a large red circle on the left, blue background\nseed: 3\nwatermark: off\n${extra}`;
    return { text, context: { file: project.write(`${model}.imgprompt`, text), projectRoot: project.dir, builtinModelsDir: modelsDir } };
  };
  const resolve = (model: string, extra = '') => {
    const { text, context } = sceneFor(model, extra);
    return resolveScene(text, context);
  };
  const plan = async (model: string, extra = ''): Promise<RenderJob> => {
    const [job] = await jobsOf(engine, resolve(model, extra), project.dir);
    return job;
  };
  // Non-finite latents or pixels already fail the render (LocalOnnxBackend checks both).
  const assertNotFlat = (data: Uint8Array | Uint8ClampedArray, what: string): void => {
    assert.ok(data.some((v) => v !== data[0]), `${what} gave a flat image`);
  };

  before(async () => {
    engine = await createRenderService({ threads: 2 });
    variant('sd-turbo-like', { scheduler: (c) => ({ ...c, _class_name: 'EulerAncestralDiscreteScheduler', timestep_spacing: 'trailing' }) });
    variant('euler-trailing', { scheduler: (c) => ({ ...c, timestep_spacing: 'trailing' }) });
    variant('tiny-turbo', {});
    variant('turbo-explicit', { scheduler: (c) => ({ ...c, timestep_spacing: 'trailing' }), index: (i) => ({ ...i, imgprompt: { ...(i.imgprompt as Json), defaults: { steps: 2 } } }) });
    variant('lcm-lora-like', { scheduler: (c) => ({ ...c, _class_name: 'LCMScheduler', original_inference_steps: 50 }) });
    variant('lcm-embedded', { scheduler: (c) => ({ ...c, _class_name: 'LCMScheduler', original_inference_steps: 50 }), lcmUNet: true });
    variant('sd2-v-zero-snr', { scheduler: (c) => ({ ...c, prediction_type: 'v_prediction', rescale_betas_zero_snr: true, timestep_spacing: 'trailing' }) });
    variant('sd3-like', { scheduler: () => ({ _class_name: 'FlowMatchEulerDiscreteScheduler', num_train_timesteps: 1000, shift: 3.0 }) });
    variant('flux-like', { scheduler: () => ({ _class_name: 'FlowMatchEulerDiscreteScheduler', base_shift: 0.5, max_shift: 1.15, shift: 3.0, use_dynamic_shifting: true }) });
  });
  after(async () => {
    await engine.dispose();
    project.cleanup();
  });

  test('the embedded model keeps its base defaults', () => {
    const defaults = readModelConfig(modelDir).defaults;
    assert.deepEqual(defaults, { sampler: 'euler', schedule: 'normal', steps: 20, guidance: 7.5 });
  });

  test('SD-Turbo (Euler ancestral, trailing): 4 steps, guidance 0, and it renders on the prompt alone', async () => {
    const model = readModelConfig(join(modelsDir, 'sd-turbo-like'));
    assert.deepEqual(model.defaults, {
      sampler: 'euler_a',
      schedule: 'normal',
      steps: 4,
      guidance: 0,
      distillation: { kind: 'turbo', signal: 'scheduler EulerAncestralDiscreteScheduler with trailing timestep spacing' },
    });
    const job = await plan('sd-turbo-like');
    assert.deepEqual([job.recipe.sampler, job.recipe.steps, job.recipe.guidance], ['euler_a', 4, 0]);
    const result = await engine.render(job);
    assert.equal(result.timings.unetCalls.length, 4);
    assertNotFlat(result.image.data, 'sd-turbo-like');
    assert.equal(readModelConfig(join(modelsDir, 'euler-trailing')).defaults.sampler, 'euler', 'an Euler Turbo config keeps Euler');
  });

  test('a Turbo known only by its name gets trailing spacing: the same pixels as one whose config says trailing', async () => {
    const named = readModelConfig(join(modelsDir, 'tiny-turbo'));
    assert.equal(named.scheduler.config.timestepSpacing, 'leading', 'the file is unchanged');
    assert.deepEqual(named.defaults.distillation, { kind: 'turbo', signal: "the folder name 'tiny-turbo'" });
    assert.equal(named.defaults.timestepSpacing, 'trailing');
    assert.deepEqual(createScheduler('euler', 'normal', effectiveSchedulerConfig(named), 4).timesteps, [999, 749, 499, 249]);
    const fromName = await engine.render(await plan('tiny-turbo'));
    const fromConfig = await engine.render(await plan('euler-trailing'));
    assert.ok(Buffer.from(fromName.image.data).equals(Buffer.from(fromConfig.image.data)), 'name-detected Turbo rendered differently');
  });

  test("model_index.json's imgprompt.defaults still wins field by field", () => {
    const d = readModelConfig(join(modelsDir, 'turbo-explicit')).defaults;
    assert.deepEqual([d.sampler, d.steps, d.guidance, d.distillation?.kind], ['euler', 2, 0, 'turbo']);
    // A scene's own settings win over every default.
    const { recipe } = resolve('turbo-explicit', 'steps: 8\nguidance: 1.5\n');
    assert.deepEqual([recipe.steps, recipe.guidance], [8, 1.5]);
  });

  test('LCM without a guidance embedding (LCM-LoRA merges): lcm, 4 steps, guidance 1, renders as before', async () => {
    const d = readModelConfig(join(modelsDir, 'lcm-lora-like')).defaults;
    assert.deepEqual(d, { sampler: 'lcm', schedule: 'normal', steps: 4, guidance: 1, distillation: { kind: 'lcm', signal: 'scheduler LCMScheduler' } });
    const result = await engine.render(await plan('lcm-lora-like'));
    assert.equal(result.timings.unetCalls.length, 4);
    assertNotFlat(result.image.data, 'lcm-lora-like');
  });

  test('LCM with timestep_cond: guidance 8.5 goes in as the embedding, the UNet runs at batch 1, the negative prompt is unused', async () => {
    const d = readModelConfig(join(modelsDir, 'lcm-embedded')).defaults;
    assert.deepEqual([d.sampler, d.steps, d.guidance, d.distillation?.signal], ['lcm', 4, 8.5, 'unet/config.json time_cond_proj_dim 8 (a guidance-embedded LCM UNet)']);
    // The fixture UNet's batch axis is fixed at 1: a classifier-free batch of 2 would fail in onnxruntime.
    const plain = await engine.render(await plan('lcm-embedded'));
    assert.equal(plain.timings.unetCalls.length, 4);
    assertNotFlat(plain.image.data, 'lcm-embedded');
    assert.deepEqual(plain.warnings, []);
    const withNegative = await engine.render(await plan('lcm-embedded', 'negative: a green square\n'));
    assert.ok(Buffer.from(withNegative.image.data).equals(Buffer.from(plain.image.data)), 'the negative prompt changed an LCM render');
    assert.ok(withNegative.warnings.some((w) => /guidance-distilled .* negative prompt is not used/.test(w)), JSON.stringify(withNegative.warnings));
    // The guidance is an input: another scale is another image, at the same cost.
    const other = await engine.render(await plan('lcm-embedded', 'guidance: 2\n'));
    assert.equal(other.timings.unetCalls.length, 4);
    assert.ok(!Buffer.from(other.image.data).equals(Buffer.from(plain.image.data)), 'the guidance embedding had no effect');
  });

  test('SD 2.x-v with zero terminal SNR (trailing) keeps base defaults and every sampler renders', async () => {
    const d = readModelConfig(join(modelsDir, 'sd2-v-zero-snr')).defaults;
    assert.deepEqual(d, { sampler: 'euler', schedule: 'normal', steps: 20, guidance: 7.5 }, 'zero-SNR trailing is not a Turbo');
    for (const [sampler, schedule] of [['euler', 'normal'], ['euler_a', 'normal'], ['euler', 'karras'], ['ddim', 'normal'], ['dpmpp_2m', 'normal'], ['dpmpp_2m', 'karras'], ['lcm', 'normal']]) {
      const result = await engine.render(await plan('sd2-v-zero-snr', `sampler: ${sampler}\nschedule: ${schedule}\nsteps: 4\n`));
      assert.equal(result.timings.unetCalls.length, 4, sampler);
      assertNotFlat(result.image.data, `${sampler} ${schedule}`);
    }
  });

  test('flow-matching configs (SD3, FLUX) are refused with a diagnostic that names the family and the way out', () => {
    for (const model of ['sd3-like', 'flux-like']) {
      const { text, context } = sceneFor(model);
      const analysis = analyzeScene(text, context);
      assert.equal(analysis.resolved, undefined);
      const error = analysis.diagnostics.find((x) => x.severity === 'error');
      assert.ok(error, `${model}: no error`);
      assert.match(error.message, /FlowMatchEulerDiscreteScheduler .*flow-matching model \(the SD3 \/ SD3\.5 \/ FLUX kind\).*local engine does not run.*remote backend/);
    }
  });
});
