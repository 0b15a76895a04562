// Flow-matching (rectified-flow) scheduler configs: SD3 / SD3.5 (FlowMatchEulerDiscreteScheduler with
// `shift`), FLUX (`use_dynamic_shifting` with base_shift / max_shift), and the UniPC / DPM-Solver configs
// of later flow models (`use_flow_sigmas`, prediction_type `flow_prediction`). Their transformer predicts
// a velocity along a straight path from noise to data over sigma in [0, 1]; the DDPM samplers here would
// run it with the wrong schedule and the wrong parameterisation, so such a model is refused up front.

import { ModelError } from '../errors';

/** What marks a scheduler config as flow matching, or undefined when nothing does. */
export function flowMatchingSignal(json: Readonly<Record<string, unknown>>): string | undefined {
  const className = json._class_name;
  if (typeof className === 'string' && className.startsWith('FlowMatch')) {
    const shift = typeof json.shift === 'number' ? ` (shift ${json.shift}${json.use_dynamic_shifting === true ? ', dynamic shifting' : ''})` : '';
    return `${className}${shift}`;
  }
  if (json.use_dynamic_shifting === true) return 'use_dynamic_shifting = true';
  if (json.use_flow_sigmas === true) return 'use_flow_sigmas = true';
  if (json.prediction_type === 'flow_prediction') return "prediction_type = 'flow_prediction'";
  return undefined;
}

/** Throws ModelError when the scheduler config is a flow-matching one. */
export function refuseFlowMatching(json: Readonly<Record<string, unknown>>, source: string): void {
  const signal = flowMatchingSignal(json);
  if (signal === undefined) return;
  throw new ModelError(
    `${signal}: this is a flow-matching model (the SD3 / SD3.5 / FLUX kind), which imgprompt's local engine does not run — ` +
      'its samplers follow the DDPM noise schedules of Stable Diffusion 1.x/2.x and would use the wrong schedule. ' +
      'Render it through a remote backend (a ComfyUI or AUTOMATIC1111/Forge server), which runs flow-matching models',
    source,
  );
}
