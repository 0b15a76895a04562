// The training noise schedule (betas, cumulative alphas, sigmas) and the few numpy/torch array
// routines diffusers builds inference schedules from. Values diffusers keeps in float32 tensors are
// rounded to float32 here too (stored in plain number arrays), so schedules match its to the last bit
// or within one float32 ulp; numpy-side arithmetic is done in float64, as numpy does.

import type { BetaSchedule } from './SchedulerConfig';

const fr = Math.fround;

/** The settings that define the training schedule, with defaults already applied. */
export interface TrainingScheduleSpec {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  trainedBetas?: readonly number[];
  rescaleBetasZeroSnr: boolean;
}

export interface TrainingSchedule {
  readonly numTrainTimesteps: number;
  /** float32 values of torch's betas. */
  readonly betas: readonly number[];
  /** float32 values of torch.cumprod(1 - betas). */
  readonly alphasCumprod: readonly number[];
}

/** torch.linspace(start, end, steps, dtype=float32), following its CPU kernel's scalar formula. */
export function torchLinspaceFloat32(start: number, end: number, steps: number): number[] {
  const s = fr(start);
  const e = fr(end);
  if (steps === 1) return [s];
  const step = fr(fr(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  // torch fills the first half forwards from start and the second half backwards from end.
  return Array.from({ length: steps }, (_, i) => (i < halfway ? fr(s + fr(step * i)) : fr(e - fr(step * (steps - i - 1)))));
}

/** Glide's cosine schedule (betas_for_alpha_bar in diffusers, max_beta 0.999), in float64 then float32. */
function cosineBetas(n: number): number[] {
  const alphaBar = (t: number): number => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
  return Array.from({ length: n }, (_, i) => fr(Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999)));
}

/** torch.cumprod on CPU: the running product is kept in double and each output rounded to float32. */
function cumprodFloat32(values: readonly number[]): number[] {
  let product = 1;
  return values.map((v) => {
    product *= v;
    return fr(product);
  });
}

/** Zero terminal SNR (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps are Flawed", Algorithm 1). */
function rescaleZeroTerminalSnr(betas: readonly number[]): number[] {
  const cumprod = cumprodFloat32(betas.map((b) => fr(1 - b)));
  const sqrtBar = cumprod.map((a) => fr(Math.sqrt(a)));
  const first = sqrtBar[0];
  const last = sqrtBar[sqrtBar.length - 1];
  const scale = fr(first / fr(first - last));
  const alphasBar = sqrtBar.map((a) => {
    const shifted = fr(fr(a - last) * scale);
    return fr(shifted * shifted);
  });
  const alphas = alphasBar.map((a, i) => (i === 0 ? a : fr(a / alphasBar[i - 1])));
  return alphas.map((a) => fr(1 - a));
}

export function trainingSchedule(spec: TrainingScheduleSpec): TrainingSchedule {
  const n = spec.numTrainTimesteps;
  let betas: number[];
  if (spec.trainedBetas) betas = spec.trainedBetas.map(fr);
  else if (spec.betaSchedule === 'linear') betas = torchLinspaceFloat32(spec.betaStart, spec.betaEnd, n);
  else if (spec.betaSchedule === 'scaled_linear') {
    betas = torchLinspaceFloat32(Math.sqrt(spec.betaStart), Math.sqrt(spec.betaEnd), n).map((b) => fr(b * b));
  } else betas = cosineBetas(n);
  if (spec.rescaleBetasZeroSnr) betas = rescaleZeroTerminalSnr(betas);
  const alphasCumprod = cumprodFloat32(betas.map((b) => fr(1 - b)));
  return { numTrainTimesteps: n, betas, alphasCumprod };
}

/** sqrt((1 - alphaBar) / alphaBar) per training timestep, as diffusers computes it in float32. */
export function trainingSigmas(alphasCumprod: readonly number[]): number[] {
  return alphasCumprod.map((a) => fr(Math.sqrt(fr(fr(1 - a) / a))));
}

/** numpy.linspace in float64: start + i * step, with the endpoint set exactly. */
export function linspace(start: number, stop: number, num: number, endpoint = true): number[] {
  if (num <= 0) return [];
  const div = endpoint ? num - 1 : num;
  const step = div > 0 ? (stop - start) / div : 0;
  const out = Array.from({ length: num }, (_, i) => i * step + start);
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/** numpy.arange for a float step: ceil((stop - start) / step) values start + i * step. */
export function arange(start: number, stop: number, step: number): number[] {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  return Array.from({ length }, (_, i) => start + i * step);
}

/** numpy.round: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** numpy.interp(x, arange(len(fp)), fp) in float64. */
export function interpOnIndexGrid(x: number, fp: readonly number[]): number {
  const last = fp.length - 1;
  if (x <= 0) return fp[0];
  if (x >= last) return fp[last];
  const j = Math.floor(x);
  if (j === x) return fp[j];
  return (fp[j + 1] - fp[j]) * (x - j) + fp[j];
}

/** Karras et al. 2022 ("Elucidating the Design Space...", eq. 5) sigmas with rho = 7, high to low. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, count: number): number[] {
  const rho = 7;
  const minInvRho = sigmaMin ** (1 / rho);
  const maxInvRho = sigmaMax ** (1 / rho);
  return linspace(0, 1, count).map((ramp) => (maxInvRho + ramp * (minInvRho - maxInvRho)) ** rho);
}

/**
 * The (fractional) training timestep whose sigma is `sigma`, interpolating linearly in log sigma as
 * diffusers' `_sigma_to_t` does. `logSigmas` are float32 logs of the ascending training sigmas.
 */
export function sigmaToTimestep(sigma: number, logSigmas: readonly number[]): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  let below = 0;
  while (below < logSigmas.length && logSigmas[below] <= logSigma) below++;
  const low = Math.min(Math.max(below - 1, 0), logSigmas.length - 2);
  const high = low + 1;
  // numpy subtracts the two float32 neighbours in float32.
  const w = Math.min(Math.max((logSigmas[low] - logSigma) / fr(logSigmas[low] - logSigmas[high]), 0), 1);
  return (1 - w) * low + w * high;
}
