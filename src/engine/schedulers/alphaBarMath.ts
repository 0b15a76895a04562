// Element-wise pieces shared by the alpha-bar parameterised samplers (DDIM, LCM): the clean-sample
// estimate, clipping and noising, in torch's float32 operation order.

import type { PredictionType } from './SchedulerConfig';
import { checkSameLength } from './stepChecks';

const fr = Math.fround;

/** x0 and the implied noise from a model output at cumulative alpha `alphaBar`. */
export function predictFromAlphaBar(
  predictionType: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  alphaBar: number,
): { x0: Float32Array; epsilon: Float32Array } {
  const sqrtAlpha = fr(Math.sqrt(alphaBar));
  const sqrtBeta = fr(Math.sqrt(fr(1 - alphaBar)));
  const n = sample.length;
  const x0 = new Float32Array(n);
  const epsilon = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const s = sample[i];
    const m = modelOutput[i];
    if (predictionType === 'epsilon') {
      x0[i] = fr(s - fr(sqrtBeta * m)) / sqrtAlpha;
      epsilon[i] = m;
    } else if (predictionType === 'sample') {
      x0[i] = m;
      epsilon[i] = fr(s - fr(sqrtAlpha * m)) / sqrtBeta;
    } else {
      x0[i] = fr(sqrtAlpha * s) - fr(sqrtBeta * m);
      epsilon[i] = fr(sqrtAlpha * m) + fr(sqrtBeta * s);
    }
  }
  return { x0, epsilon };
}

export function clampInPlace(values: Float32Array, range: number): void {
  for (let i = 0; i < values.length; i++) values[i] = Math.min(Math.max(values[i], -range), range);
}

/** sqrt(alphaBar) * original + sqrt(1 - alphaBar) * noise (DDPM forward process). */
export function addNoiseAtAlphaBar(sampler: string, original: Float32Array, noise: Float32Array, alphaBar: number): Float32Array {
  checkSameLength(sampler, 'original and noise', original, noise);
  const sqrtAlpha = fr(Math.sqrt(alphaBar));
  const sqrtBeta = fr(Math.sqrt(fr(1 - alphaBar)));
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) out[i] = fr(sqrtAlpha * original[i]) + fr(sqrtBeta * noise[i]);
  return out;
}

/** sqrt((1 - alphaBar) / alphaBar), the sigma equivalent of an alpha bar. */
export function sigmaOfAlphaBar(alphaBar: number): number {
  return fr(Math.sqrt(fr(fr(1 - alphaBar) / alphaBar)));
}
