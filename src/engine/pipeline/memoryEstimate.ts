// How much memory a render's activations take beyond the weights, estimated from the model's configs
// before anything is allocated, so a size the machine cannot hold is refused with a clear error instead
// of the process being killed part way. Deliberately a lower bound of the two peaks:
// - the VAE decoder at full resolution holds several feature maps of block_out_channels[0] channels
//   (input, output and a residual of a ResNet block, and a normalised copy): 4 × C × H × W float32;
// - the UNet's first level with attention (SD 1.x/2.x: the first, at h·w latent positions; SDXL: the
//   second, at h·w / 4) compares every position with every other, per head and batch item
//   (classifier-free guidance doubles the batch): batch × heads × positions² float32. The head count is
//   diffusers' reading of the config: num_attention_heads, else attention_head_dim, per level.
// A whole render's peak adds the weights held (renderPeakBytes). SDXL at 1024², float32, with guidance:
// UNet 2.57 B parameters = 10.3 GB, text encoders 123 M + 695 M = 3.3 GB, VAE decoder 49.5 M = 0.2 GB,
// and activations max(VAE 4 × 128 × 1024² × 4 B = 2.1 GB, attention 2 × 10 × 4096² × 4 B = 1.3 GB):
// about 16 GB (an estimate from the configs; not measured at full size on these machines).
import type { ModelConfig } from '../model/modelConfig';

const FLOAT_BYTES = 4;

/** The first UNet level with attention (0 when the config does not say) and its head count. */
function firstAttentionLevel(model: ModelConfig): { level: number; heads: number } {
  const types = model.unet.downBlockTypes;
  const found = types.findIndex((t) => t.startsWith('CrossAttn'));
  const level = found < 0 ? 0 : found;
  const raw = model.unet.raw.num_attention_heads ?? model.unet.raw.attention_head_dim;
  const value = Array.isArray(raw) ? raw[level] : raw;
  const channels = model.unet.blockOutChannels[level] ?? 320;
  const heads = typeof value === 'number' && value > 0 ? value : Math.max(1, Math.round(channels / 64));
  return { level, heads };
}

/** Bytes of activations a render of `width`×`height` needs at its peak, with `batch` UNet items (2 with CFG). */
export function activationBytes(model: ModelConfig, width: number, height: number, batch: number): number {
  const pixels = width * height;
  const vae = 4 * (model.vae.blockOutChannels[0] ?? 128) * pixels * FLOAT_BYTES;
  const { level, heads } = firstAttentionLevel(model);
  const tokens = pixels / model.vaeScaleFactor ** 2 / 4 ** level;
  const attention = batch * heads * tokens * tokens * FLOAT_BYTES;
  return Math.max(vae, attention);
}

/** A render's peak: the weights held (`weightBytes`, e.g. the components' file sizes) plus its activations. */
export function renderPeakBytes(model: ModelConfig, weightBytes: number, width: number, height: number, batch: number): number {
  return weightBytes + activationBytes(model, width, height, batch);
}
