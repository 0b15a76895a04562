// The embedded model (models/tiny-shapes) through the same loader a real SD 1.5 export goes through:
// every component loads from the session cache, runs once at the shapes its config declares, and gives
// finite outputs of the right shape. Skipped (with a note) until the model folder exists.
// IMGPROMPT_TEST_MODEL_DIR points the same test at another export (e.g. a real SD 1.5 folder).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CLIPTextEncoder } from '../../../src/engine/model/clipTextEncoder';
import { acquireComponent } from '../../../src/engine/model/componentLease';
import { readModelConfig } from '../../../src/engine/model/modelConfig';
import { SessionCache } from '../../../src/engine/onnx/sessionCache';
import { UNet } from '../../../src/engine/model/unet';
import { VAEDecoder } from '../../../src/engine/model/vaeDecoder';
import { VAEEncoder } from '../../../src/engine/model/vaeEncoder';
import type { FloatTensor } from '../../../src/engine/onnx/tensor';

const MODEL_DIR = process.env.IMGPROMPT_TEST_MODEL_DIR ?? join(__dirname, '..', '..', '..', 'models', 'tiny-shapes');
const present = ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder'].every((c) => existsSync(join(MODEL_DIR, c, 'model.onnx')));

function finite(t: FloatTensor): boolean {
  return t.data.every(Number.isFinite) && t.data.some((v) => v !== 0);
}

test('tiny-shapes: all four components load through the cache and run once', { skip: present ? false : `${MODEL_DIR} is not built yet` }, async () => {
  const config = readModelConfig(MODEL_DIR);
  const cache = new SessionCache();
  const text = await acquireComponent(cache, join(MODEL_DIR, 'text_encoder'), CLIPTextEncoder);
  const unet = await acquireComponent(cache, join(MODEL_DIR, 'unet'), UNet);
  const decoder = await acquireComponent(cache, join(MODEL_DIR, 'vae_decoder'), VAEDecoder);
  const encoder = await acquireComponent(cache, join(MODEL_DIR, 'vae_encoder'), VAEEncoder);
  try {
    const length = text.component.sequenceLength ?? config.tokenizer.modelMaxLength;
    const ids = [Array.from({ length }, (_, i) => (i === 0 ? 0 : Math.min(i, config.textEncoder.vocabSize - 1))), new Array<number>(length).fill(1)];
    const encoded = await text.component.encode(ids);
    assert.deepEqual(encoded.lastHiddenState.dims, [2, length, config.textEncoder.hiddenSize]);
    assert.ok(finite(encoded.lastHiddenState));

    const [h, w] = config.unet.sampleSize;
    const channels = config.unet.inChannels;
    const sample = { data: Float32Array.from({ length: 2 * channels * h * w }, (_, i) => Math.sin(i)), dims: [2, channels, h, w] };
    const out = await unet.component.predict({ sample, timestep: 500, encoderHiddenStates: encoded.lastHiddenState });
    assert.deepEqual(out.dims, [2, config.unet.outChannels, h, w]);
    assert.ok(finite(out));

    const latents = { data: sample.data.slice(0, channels * h * w), dims: [1, channels, h, w] };
    const image = await decoder.component.decode(latents);
    const s = config.vaeScaleFactor;
    assert.deepEqual(image.dims, [1, 3, h * s, w * s]);
    assert.ok(finite(image));

    const back = await encoder.component.encode(image);
    assert.deepEqual(back.dims, [1, config.vae.latentChannels, h, w]);
    assert.ok(finite(back));
    // A second acquire of every component is a cache hit.
    const again = await acquireComponent(cache, join(MODEL_DIR, 'unet'), UNet);
    assert.equal(again.component.session, unet.component.session);
    again.release();
    assert.equal(cache.stats.misses, 4);
  } finally {
    for (const lease of [text, unet, decoder, encoder]) lease.release();
    await cache.clear();
  }
});
