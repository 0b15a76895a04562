// The activation estimate reads diffusers' configs as diffusers does: SD 1.5's 8 heads at the first
// level; SDXL's first attention at the second level (10 heads over h·w / 4 positions), where the VAE
// decoder's full-resolution maps are the larger peak at 1024².
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig } from '../../../src/engine/model/modelConfig';
import { activationBytes, renderPeakBytes } from '../../../src/engine/pipeline/memoryEstimate';

function model(unet: Record<string, unknown>, blockOut: number[], types: string[]): ModelConfig {
  return {
    unet: { raw: unet, blockOutChannels: blockOut, downBlockTypes: types },
    vae: { blockOutChannels: [128, 256, 512, 512] },
    vaeScaleFactor: 8,
  } as unknown as ModelConfig;
}

describe('memoryEstimate', () => {
  test('SD 1.5 at 512², batch 2: 8 heads over 4096 positions', () => {
    const sd15 = model({ attention_head_dim: 8 }, [320, 640, 1280, 1280], ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D']);
    assert.equal(activationBytes(sd15, 512, 512, 2), 2 * 8 * 4096 ** 2 * 4);
  });

  test('SDXL at 1024², batch 2: the VAE maps (2.1 GB) outweigh level-1 attention (1.3 GB); with 13.8 GB of weights the peak is ~16 GB', () => {
    const sdxl = model({ attention_head_dim: [5, 10, 20], addition_embed_type: 'text_time' }, [320, 640, 1280], ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D']);
    const vae = 4 * 128 * 1024 * 1024 * 4;
    assert.equal(activationBytes(sdxl, 1024, 1024, 2), vae);
    assert.ok(2 * 10 * 4096 ** 2 * 4 < vae);
    // At 2048² the attention (16384 positions) dominates.
    assert.equal(activationBytes(sdxl, 2048, 2048, 2), 2 * 10 * 16384 ** 2 * 4);
    const weights = (2_567_463_684 + 123_060_480 + 694_659_840 + 49_490_199) * 4;
    const peak = renderPeakBytes(sdxl, weights, 1024, 1024, 2);
    assert.ok(peak > 15e9 && peak < 17e9, `${peak}`);
  });
});
