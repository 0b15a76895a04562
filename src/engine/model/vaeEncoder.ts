// VAE encoder component: image [batch, 3, H, W] in [-1, 1] -> latents [batch, 4, H/8, W/8], unscaled
// (the caller multiplies by the model's scaling factor).
//
// Exporters differ in what the graph returns:
// - `latent_sample`: the latents themselves (older exports; whatever sampling the exporter baked in).
// - `latent_parameters`: the diagonal Gaussian's parameters, mean and log-variance concatenated on the
//   channel axis (optimum). We return the mean by default, which is deterministic and what diffusers'
//   `retrieve_latents(..., sample_mode="argmax")` does; mode 'sample' draws mean + std * eps with noise
//   from the caller's seeded generator, following diffusers' DiagonalGaussianDistribution (log-variance
//   clamped to [-30, 20]).
import { ModelError } from '../errors';
import { requireInput, requireOutput } from './componentIO';
import type { OnnxSession } from '../onnx/onnxSession';
import { elementCount, formatDims, type FloatTensor } from '../onnx/tensor';

export interface VAEEncodeOptions {
  /** Only for graphs that output `latent_parameters`. Default 'mean'. */
  readonly mode?: 'mean' | 'sample';
  /** Standard normal noise for mode 'sample': returns `count` values (the caller's seeded generator). */
  readonly randn?: (count: number) => Float32Array;
  readonly signal?: AbortSignal;
}

export class VAEEncoder {
  private readonly outputName: string;

  constructor(readonly session: OnnxSession) {
    requireInput(session, 'VAE encoder', 'sample');
    this.outputName = requireOutput(session, 'VAE encoder', ['latent_sample', 'latent_parameters']).name;
  }

  /** True when the graph returns mean and log-variance rather than latents. */
  get outputsParameters(): boolean {
    return this.outputName === 'latent_parameters';
  }

  get runTimeMs(): number {
    return this.session.runTimeMs;
  }

  async encode(image: FloatTensor, options: VAEEncodeOptions = {}): Promise<FloatTensor> {
    const result = (await this.session.run({ sample: image }, [this.outputName], options.signal))[this.outputName];
    if (!this.outputsParameters) return result;
    return latentsFromParameters(result, options, this.session.modelPath);
  }
}

/** Mean (or a sample) of the diagonal Gaussian whose parameters are [batch, 2C, h, w] = (mean, logvar). */
export function latentsFromParameters(parameters: FloatTensor, options: VAEEncodeOptions, modelPath: string): FloatTensor {
  const [batch, channels2, height, width] = parameters.dims;
  if (parameters.dims.length !== 4 || channels2 % 2 !== 0) {
    throw new ModelError(`output 'latent_parameters' has shape ${formatDims(parameters.dims)}; expected [batch, 2 * channels, height, width]`, modelPath);
  }
  const channels = channels2 / 2;
  const dims = [batch, channels, height, width];
  const plane = channels * height * width;
  const out = new Float32Array(elementCount(dims));
  const mode = options.mode ?? 'mean';
  if (mode === 'sample' && !options.randn) throw new RangeError("VAE encode mode 'sample' needs a randn noise source");
  const noise = mode === 'sample' ? options.randn!(out.length) : undefined;
  if (noise && noise.length !== out.length) throw new RangeError(`randn returned ${noise.length} values, expected ${out.length}`);
  for (let b = 0; b < batch; b++) {
    const src = b * 2 * plane;
    const dst = b * plane;
    for (let i = 0; i < plane; i++) {
      const mean = parameters.data[src + i];
      if (!noise) {
        out[dst + i] = mean;
        continue;
      }
      const logvar = Math.min(20, Math.max(-30, parameters.data[src + plane + i]));
      out[dst + i] = mean + Math.exp(0.5 * logvar) * noise[dst + i];
    }
  }
  return { data: out, dims };
}
