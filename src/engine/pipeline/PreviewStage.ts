// Step previews: a model's tiny preview decoder (TAESD-style, `preview_decoder/`) makes each step's
// preview look like the final image at full size for a few milliseconds; without one (or when it fails),
// the linear latent→RGB map, fitted to the model's first real decode.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ModelError } from '../errors';
import { fitLatentRGBFactors, latentToPreviewRGB, type LatentRGBFactors } from '../image/latentPreview';
import type { RGBImage } from '../image/rgbImage';
import type { ModelFamily } from '../model/families';
import type { ModelConfig } from '../model/modelConfig';
import { PREVIEW_DECODER_FOLDER, PreviewDecoder, readPreviewDecoderConfig, type PreviewDecoderConfig } from '../model/previewDecoder';
import type { OnnxSession } from '../onnx/onnxSession';
import { floatTensor, type FloatTensor } from '../onnx/tensor';
import { memo } from './memo';

export type Acquire = <T>(component: string, Type: new (session: OnnxSession) => T) => Promise<T>;

export class PreviewStage {
  private readonly factors = new Map<string, LatentRGBFactors>();
  /** Preview decoder configs by folder; undefined when the model ships none. */
  private readonly configs = new Map<string, Promise<PreviewDecoderConfig | undefined>>();

  /** A previewer for one render: decodes a step's estimate of the clean latents to RGB. */
  async begin(model: ModelConfig, family: ModelFamily, acquire: Acquire, warnings: string[]): Promise<(predOriginal: Float32Array, dims: number[], signal?: AbortSignal) => Promise<RGBImage>> {
    let decoder = await this.decoder(model, acquire, warnings);
    const factors = this.factors.get(model.dir) ?? family.previewFactors;
    return async (predOriginal, dims, signal) => {
      if (decoder) {
        try {
          return await decoder.decodeToRGB(floatTensor(predOriginal, dims), signal);
        } catch (error) {
          if (!(error instanceof ModelError)) throw error;
          warnings.push(`step previews fall back to the linear map: ${error.message}`);
          decoder = undefined;
        }
      }
      return { data: latentToPreviewRGB(predOriginal, dims[3], dims[2], factors), width: dims[3], height: dims[2] };
    };
  }

  /** Learns the model's linear latent→RGB map from its first real decode. */
  learn(model: ModelConfig, latents: FloatTensor, decoded: FloatTensor): void {
    if (!this.factors.has(model.dir)) this.factors.set(model.dir, fitLatentRGBFactors(latents, decoded));
  }

  /** The model's preview decoder, or undefined (none shipped, or unusable: then a warning). */
  private async decoder(model: ModelConfig, acquire: Acquire, warnings: string[]): Promise<PreviewDecoder | undefined> {
    const dir = join(model.dir, PREVIEW_DECODER_FOLDER);
    try {
      // Whether the model has one, and its config, are read once per model folder (not per render).
      const config = await memo(this.configs, dir, () => (existsSync(join(dir, 'model.onnx')) ? readPreviewDecoderConfig(dir) : Promise.resolve(undefined)));
      if (!config) return undefined;
      return await acquire(PREVIEW_DECODER_FOLDER, PreviewDecoder.withConfig(config));
    } catch (error) {
      if (!(error instanceof ModelError)) throw error;
      warnings.push(`step previews use the linear map: ${error.message}`);
      return undefined;
    }
  }
}
