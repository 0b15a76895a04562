// How much memory a render's activations take beyond the weights, estimated from the model's configs
// before anything is allocated, so a size the machine cannot hold is refused with a clear error instead
// of the process being killed part way. Deliberately a lower bound of the two peaks:
// - the VAE decoder at full resolution holds several feature maps of block_out_channels[0] channels
//   (input, output and a residual of a ResNet block, and a normalised copy): 4 × C × H × W float32;
// - the UNet's first attention level compares every latent position with every other, per head and
//   batch item (classifier-free guidance doubles the batch): batch × heads × (h·w)² float32.
import type { ModelConfig } from '../model/modelConfig';

const FLOAT_BYTES = 4;

/** Attention heads at the UNet's first level: diffusers' `attention_head_dim` (SD 1.x: 8), or width / 64. */
function firstLevelHeads(model: ModelConfig): number {
  const raw = model.unet.raw.attention_head_dim;
  const first = Array.isArray(raw) ? raw[0] : raw;
  if (typeof first === 'number' && first > 0) {
    // SD 2.x configs give the head width (64) as an array, SD 1.x the head count (8) as a number.
    return Array.isArray(raw) ? Math.max(1, Math.round((model.unet.blockOutChannels[0] ?? 320) / first)) : first;
  }
  return Math.max(1, Math.round((model.unet.blockOutChannels[0] ?? 320) / 64));
}

/** Bytes of activations a render of `width`×`height` needs at its peak, with `batch` UNet items (2 with CFG). */
export function activationBytes(model: ModelConfig, width: number, height: number, batch: number): number {
  const pixels = width * height;
  const vae = 4 * (model.vae.blockOutChannels[0] ?? 128) * pixels * FLOAT_BYTES;
  const tokens = pixels / model.vaeScaleFactor ** 2;
  const attention = batch * firstLevelHeads(model) * tokens * tokens * FLOAT_BYTES;
  return Math.max(vae, attention);
}
