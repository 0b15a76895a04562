// Preview decoder component (TAESD-style tiny decoder): latents [batch, C, h, w] -> image
// [batch, 3, 8h, 8w], for live step previews. Its folder holds model.onnx (input 'latent_sample', output
// 'sample') and config.json saying which latents it takes and what range it gives (docs/previews.md):
//   { "input": "scaled" | "unscaled", "scaling_factor": 0.18215, "output_range": [-1, 1] | [0, 1] }
// decode() takes the UNet's scaled latents (what the sampler's predOriginal holds) and always returns
// values in [-1, 1], like the VAE decoder, so imageTensorToRGB turns either into bytes.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelError } from '../errors';
import { imageTensorToRGB, type RGBImage } from '../image/rgbImage';
import type { OnnxSession, OnnxValueInfo } from '../onnx/onnxSession';
import { floatTensor, formatDims, type FloatTensor } from '../onnx/tensor';

/** The model folder's subfolder that holds a preview decoder, when the model ships one. */
export const PREVIEW_DECODER_FOLDER = 'preview_decoder';

export interface PreviewDecoderConfig {
  /** 'scaled': the graph takes the UNet's latents as they are; 'unscaled': divided by scalingFactor first. */
  readonly input: 'scaled' | 'unscaled';
  /** The VAE scaling factor the graph was made for (needed for 'unscaled'). */
  readonly scalingFactor?: number;
  /** What the graph's output spans: [-1, 1] (diffusers' VAE convention) or [0, 1] (TAESD's own). */
  readonly outputRange: readonly [number, number];
  /** Latent channels (default 4). */
  readonly latentChannels: number;
}

export const DEFAULT_PREVIEW_DECODER_CONFIG: PreviewDecoderConfig = { input: 'scaled', outputRange: [-1, 1], latentChannels: 4 };

const MAX_CONFIG_BYTES = 64 * 1024;

/** Reads and checks `<componentDir>/config.json`; a missing, oversized or malformed file is a ModelError naming it. */
export async function readPreviewDecoderConfig(componentDir: string): Promise<PreviewDecoderConfig> {
  const path = join(componentDir, 'config.json');
  let text: string;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ModelError('a preview decoder needs a config.json file here', path);
    if (info.size > MAX_CONFIG_BYTES) throw new ModelError(`config.json is ${info.size} bytes; a preview decoder config is at most ${MAX_CONFIG_BYTES}`, path);
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof ModelError) throw error;
    throw new ModelError(`cannot read the preview decoder's config.json (${(error as Error).message})`, path);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ModelError(`config.json is not valid JSON (${(error as Error).message})`, path);
  }
  return parsePreviewDecoderConfig(raw, path);
}

/** Checks a parsed config.json object (see the header); `path` names the file in errors. */
export function parsePreviewDecoderConfig(raw: unknown, path: string): PreviewDecoderConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ModelError('config.json must hold a JSON object', path);
  const o = raw as Record<string, unknown>;
  const input = o.input;
  if (input !== 'scaled' && input !== 'unscaled') {
    throw new ModelError(`"input" must be "scaled" or "unscaled" (the latents the graph takes), not ${JSON.stringify(input) ?? 'missing'}`, path);
  }
  const sf = o.scaling_factor;
  if (sf !== undefined && (typeof sf !== 'number' || !Number.isFinite(sf) || sf <= 0)) {
    throw new ModelError(`"scaling_factor" must be a positive number, not ${JSON.stringify(sf)}`, path);
  }
  if (input === 'unscaled' && sf === undefined) throw new ModelError('"input": "unscaled" needs "scaling_factor"', path);
  let outputRange: readonly [number, number] = [-1, 1];
  if (o.output_range !== undefined) {
    const r = o.output_range;
    if (!Array.isArray(r) || r.length !== 2 || !((r[0] === -1 && r[1] === 1) || (r[0] === 0 && r[1] === 1))) {
      throw new ModelError(`"output_range" must be [-1, 1] or [0, 1], not ${JSON.stringify(r)}`, path);
    }
    outputRange = [r[0] as number, r[1] as number];
  }
  const lc = o.latent_channels ?? 4;
  if (typeof lc !== 'number' || !Number.isInteger(lc) || lc < 1 || lc > 64) {
    throw new ModelError(`"latent_channels" must be a whole number from 1 to 64, not ${JSON.stringify(lc)}`, path);
  }
  return { input, ...(typeof sf === 'number' ? { scalingFactor: sf } : {}), outputRange, latentChannels: lc };
}

function list(values: readonly OnnxValueInfo[]): string {
  return values.map((v) => `'${v.name}' ${formatDims(v.shape)}`).join(', ') || 'none';
}

export class PreviewDecoder {
  private readonly outputName: string;

  /** A constructor for acquireComponent that binds a config read with readPreviewDecoderConfig. */
  static withConfig(config: PreviewDecoderConfig): new (session: OnnxSession) => PreviewDecoder {
    return class extends PreviewDecoder {
      constructor(session: OnnxSession) {
        super(session, config);
      }
    };
  }

  constructor(
    readonly session: OnnxSession,
    readonly config: PreviewDecoderConfig = DEFAULT_PREVIEW_DECODER_CONFIG,
  ) {
    const fault = (what: string): ModelError =>
      new ModelError(`this graph cannot be used as a preview decoder: ${what} (its inputs are ${list(session.inputs)}; its outputs are ${list(session.outputs)})`, session.modelPath);
    const input = session.input('latent_sample');
    if (!input) throw fault(`it has no input 'latent_sample'`);
    if (input.type !== 'float32' && input.type !== 'float16') throw fault(`'latent_sample' is ${input.type}, not a float tensor`);
    if (input.shape.length !== 4) throw fault(`'latent_sample' has ${input.shape.length} dimensions, not 4 [batch, channels, height, width]`);
    if (typeof input.shape[1] === 'number' && input.shape[1] !== config.latentChannels) {
      throw fault(`'latent_sample' takes ${input.shape[1]} channels; the latents have ${config.latentChannels}`);
    }
    const other = session.inputs.find((i) => i.name !== 'latent_sample');
    if (other) throw fault(`it needs a second input '${other.name}'`);
    const output = session.output('sample');
    if (!output) throw fault(`it has no output 'sample'`);
    if (output.type !== 'float32' && output.type !== 'float16') throw fault(`'sample' is ${output.type}, not a float tensor`);
    if (output.shape.length !== 4 || (typeof output.shape[1] === 'number' && output.shape[1] !== 3)) {
      throw fault(`'sample' is ${formatDims(output.shape)}, not an RGB image [batch, 3, height, width]`);
    }
    this.outputName = output.name;
  }

  get runTimeMs(): number {
    return this.session.runTimeMs;
  }

  /**
   * The UNet's scaled latents [batch, C, h, w] to an image [batch, 3, H, W] in [-1, 1] (clamped). An output
   * that is not an image of the latents' batch size is a ModelError naming the model file.
   */
  async decode(latents: FloatTensor, signal?: AbortSignal): Promise<FloatTensor> {
    const [batch, channels] = latents.dims;
    if (latents.dims.length !== 4 || channels !== this.config.latentChannels) {
      throw new RangeError(`preview decoder latents must be [batch, ${this.config.latentChannels}, height, width], not ${formatDims(latents.dims)}`);
    }
    const input = this.config.input === 'unscaled' ? divided(latents, this.config.scalingFactor ?? 1) : latents;
    const result = await this.session.run({ latent_sample: input }, [this.outputName], signal);
    const out = result[this.outputName];
    if (out.dims.length !== 4 || out.dims[0] !== batch || out.dims[1] !== 3) {
      throw new ModelError(`the preview decoder returned ${formatDims(out.dims)} for latents ${formatDims(latents.dims)}; expected [${batch}, 3, height, width]`, this.session.modelPath);
    }
    const [lo, hi] = this.config.outputRange;
    const scale = 2 / (hi - lo);
    const data = new Float32Array(out.data.length);
    for (let i = 0; i < data.length; i++) {
      const v = (out.data[i] - lo) * scale - 1;
      data[i] = Number.isNaN(v) ? 0 : Math.min(1, Math.max(-1, v)); // NaN -> mid grey
    }
    return floatTensor(data, out.dims);
  }

  /** decode() for one preview image: batch item 0 as 8-bit RGB. */
  async decodeToRGB(latents: FloatTensor, signal?: AbortSignal): Promise<RGBImage> {
    return imageTensorToRGB(await this.decode(latents, signal));
  }
}

function divided(t: FloatTensor, by: number): FloatTensor {
  const data = new Float32Array(t.data.length);
  for (let i = 0; i < data.length; i++) data[i] = t.data[i] / by;
  return { data, dims: t.dims };
}
