// Flow-matching scheduler configs (SD3 / SD3.5, FLUX and later flow models) are refused with a ModelError
// that says what the model is and where it can run, instead of being sampled with a DDPM schedule. The
// configs are those the diffusers repositories ship (FlowMatchEulerDiscreteScheduler of
// stabilityai/stable-diffusion-3-medium-diffusers and black-forest-labs/FLUX.1-dev; a UniPC config with
// flow sigmas as Wan 2.1 ships it).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelError } from '../../../src/engine/errors';
import { parseSchedulerConfig } from '../../../src/engine/schedulers';
import { flowMatchingSignal } from '../../../src/engine/schedulers/flowMatching';

const SD3 = { _class_name: 'FlowMatchEulerDiscreteScheduler', _diffusers_version: '0.29.0.dev0', num_train_timesteps: 1000, shift: 3.0 };
const FLUX = {
  _class_name: 'FlowMatchEulerDiscreteScheduler',
  _diffusers_version: '0.30.0.dev0',
  base_image_seq_len: 256,
  base_shift: 0.5,
  max_image_seq_len: 4096,
  max_shift: 1.15,
  num_train_timesteps: 1000,
  shift: 3.0,
  use_dynamic_shifting: true,
};
const UNIPC_FLOW = { _class_name: 'UniPCMultistepScheduler', prediction_type: 'flow_prediction', use_flow_sigmas: true, flow_shift: 3.0, num_train_timesteps: 1000 };

function refusal(json: Record<string, unknown>): ModelError {
  try {
    parseSchedulerConfig(json, 'scheduler/scheduler_config.json');
  } catch (error) {
    assert.ok(error instanceof ModelError, `expected a ModelError, got ${String(error)}`);
    return error;
  }
  assert.fail('the config was accepted');
}

describe('flow-matching scheduler configs are refused', () => {
  for (const [name, json, signal] of [
    ['SD3 (FlowMatchEulerDiscreteScheduler, shift 3)', SD3, 'FlowMatchEulerDiscreteScheduler (shift 3)'],
    ['FLUX (dynamic shifting)', FLUX, 'FlowMatchEulerDiscreteScheduler (shift 3, dynamic shifting)'],
    ['FlowMatchHeunDiscreteScheduler', { _class_name: 'FlowMatchHeunDiscreteScheduler', num_train_timesteps: 1000 }, 'FlowMatchHeunDiscreteScheduler'],
    ['UniPC with flow sigmas', UNIPC_FLOW, 'use_flow_sigmas = true'],
    ['use_dynamic_shifting on another class', { _class_name: 'EulerDiscreteScheduler', use_dynamic_shifting: true }, 'use_dynamic_shifting = true'],
    ['prediction_type flow_prediction', { _class_name: 'DPMSolverMultistepScheduler', prediction_type: 'flow_prediction' }, "prediction_type = 'flow_prediction'"],
  ] as const) {
    test(name, () => {
      const error = refusal(json);
      assert.equal(error.path, 'scheduler/scheduler_config.json');
      assert.ok(error.message.startsWith(`scheduler/scheduler_config.json: ${signal}: `), error.message);
      assert.match(error.message, /flow-matching model \(the SD3 \/ SD3\.5 \/ FLUX kind\)/);
      assert.match(error.message, /local engine does not run/);
      assert.match(error.message, /remote backend \(a ComfyUI or AUTOMATIC1111\/Forge server\)/);
    });
  }

  test('DDPM-family configs are not flow matching', () => {
    for (const json of [
      { _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'trailing', use_dynamic_shifting: false },
      { _class_name: 'PNDMScheduler', skip_prk_steps: true },
      { _class_name: 'LCMScheduler', original_inference_steps: 50 },
      { _class_name: 'DPMSolverMultistepScheduler', use_flow_sigmas: false, prediction_type: 'v_prediction' },
    ]) {
      assert.equal(flowMatchingSignal(json), undefined, JSON.stringify(json));
      assert.doesNotThrow(() => parseSchedulerConfig(json, 'x'));
    }
  });
});
