// Few-step SDXL distillations get their model cards' defaults: SDXL-Turbo by its trailing Euler
// scheduler config or its name; SDXL-Lightning by its name, with the step count the name carries.
// SDXL base keeps the scheduler's sampler with 20 steps and guidance 7.5.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { inferModelDefaults } from '../../../src/engine/model/modelDefaults';
import { parseSchedulerConfig } from '../../../src/engine/schedulers/SchedulerConfig';

const SDXL_EULER = {
  _class_name: 'EulerDiscreteScheduler',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  prediction_type: 'epsilon',
  steps_offset: 1,
  timestep_spacing: 'leading',
};

function defaults(dir: string, scheduler: Record<string, unknown> = SDXL_EULER) {
  return inferModelDefaults({
    scheduler: { className: scheduler._class_name as string, config: parseSchedulerConfig(scheduler, 'scheduler_config.json'), raw: scheduler },
    unet: { raw: {} },
    index: { _class_name: 'StableDiffusionXLPipeline' },
    dir,
  });
}

describe('SDXL distillation defaults', () => {
  test('SDXL base: Euler, 20 steps, guidance 7.5', () => {
    const d = defaults('/models/stable-diffusion-xl-base-1.0');
    assert.deepEqual([d.sampler, d.steps, d.guidance, d.distillation], ['euler', 20, 7.5, undefined]);
  });

  test('SDXL-Turbo (trailing Euler, or by name): 4 steps, no guidance', () => {
    const d = defaults('/models/whatever', { ...SDXL_EULER, _class_name: 'EulerAncestralDiscreteScheduler', timestep_spacing: 'trailing' });
    assert.deepEqual([d.sampler, d.steps, d.guidance, d.distillation?.kind], ['euler_a', 4, 0, 'turbo']);
    assert.equal(defaults('/models/sdxl-turbo').distillation?.kind, 'turbo');
  });

  test('SDXL-Lightning by name: Euler, trailing spacing, no guidance, the steps in the name', () => {
    const eight = defaults('/models/sdxl_lightning_8step');
    assert.deepEqual([eight.sampler, eight.steps, eight.guidance, eight.distillation?.kind, eight.timestepSpacing], ['euler', 8, 0, 'lightning', 'trailing']);
    assert.equal(defaults('/models/SDXL-Lightning-2-steps').steps, 2);
    assert.equal(defaults('/models/juggernaut-lightning').steps, 4);
    assert.equal(defaults('/models/lightningbolt-xl').distillation, undefined, 'a word, not a substring');
  });
});
