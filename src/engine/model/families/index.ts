// The model families the local pipeline runs, most specific first; familyOf picks the first that matches.
import { ModelError } from '../../errors';
import type { ModelConfig } from '../modelConfig';
import type { ModelFamily } from './ModelFamily';
import { stableDiffusion } from './stableDiffusion';
import { stableDiffusionXL } from './stableDiffusionXL';

export type { Conditioning, ConditioningServices, ModelFamily } from './ModelFamily';

export const MODEL_FAMILIES: readonly ModelFamily[] = [stableDiffusionXL, stableDiffusion];

export function familyOf(model: ModelConfig): ModelFamily {
  const family = MODEL_FAMILIES.find((f) => f.matches(model));
  if (!family) {
    const known = MODEL_FAMILIES.map((f) => f.label).join(', ');
    throw new ModelError(`no model family of this engine runs this model (components: ${model.components.join(', ') || 'none'}); it runs ${known}`, model.dir);
  }
  return family;
}
