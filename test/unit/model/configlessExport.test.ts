// An ONNX export without component config.json files (diffusers' conversion script, Olive / DirectML)
// loads and renders: the embedded model with its unet/, vae_*/ and text_encoder/config.json removed
// infers every config value from its graphs, and renders the same pixels as the model with its configs
// through the public API (plan → render). Also with graphs that hide their weights' names and shapes
// (anonymizeGraph), which exercises the structural rules.
//
// The reference render is the embedded model with its VAE scaling_factor set to 0.18215: a scaling
// factor is a training constant no graph records, so a configless folder gets SD 1.x/2.x's 0.18215 while
// tiny-shapes was trained with 0.372665. The PNGs' recipe metadata differ (the model's content hash
// covers its files, config.json included); the image data (IDAT chunks) must be byte-identical.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRenderService, parsePngChunks, readModelConfig, type ModelConfig, type RenderService } from '../../../src/engine/index';
import { configlessCopy, copyWithVAEScale } from './exportVariants';

const TINY = join(__dirname, '..', '..', '..', 'models', 'tiny-shapes');

/** The config's values, without where they were read from. */
function values(config: ModelConfig): Record<string, unknown> {
  const { dir: _dir, name: _name, controlnets: _controlnets, ...rest } = config;
  return JSON.parse(JSON.stringify({ ...rest, unet: { ...rest.unet, raw: undefined }, vae: { ...rest.vae, raw: undefined }, textEncoder: { ...rest.textEncoder, raw: undefined } }));
}

function idat(png: Buffer): Buffer {
  return Buffer.concat(parsePngChunks(png).filter((c) => c.type === 'IDAT').map((c) => c.data));
}

describe('ONNX exports without component config.json', () => {
  const root = mkdtempSync(join(tmpdir(), 'imgprompt-configless-'));
  const models = join(root, 'models');
  mkdirSync(join(root, '.git'), { recursive: true });
  mkdirSync(models);
  const reference = copyWithVAEScale(TINY, join(models, 'with-configs'), 0.18215);
  const configless = configlessCopy(TINY, join(models, 'configless'));
  const anonymous = configlessCopy(TINY, join(models, 'anonymous'), { anonymize: true });
  let service: RenderService;

  before(async () => {
    service = await createRenderService({ threads: 2 });
  });
  after(async () => {
    await service.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  test('every config value but the VAE scale is inferred equal to the shipped configs', () => {
    const shipped = readModelConfig(TINY);
    const inferred = readModelConfig(configless);
    assert.equal(shipped.vae.scalingFactor, 0.372665);
    assert.equal(inferred.vae.scalingFactor, 0.18215);
    assert.deepEqual(values(inferred), values(readModelConfig(reference)));
    assert.deepEqual(values(inferred), { ...values(shipped), vae: { ...(values(shipped).vae as object), scalingFactor: 0.18215 } });
    assert.deepEqual(inferred.unet.raw._inferred_from, 'unet/model.onnx');
    // The values themselves (tiny-shapes/unet/config.json and friends).
    assert.deepEqual([inferred.unet.inChannels, inferred.unet.outChannels, inferred.unet.crossAttentionDim], [4, 4, 128]);
    assert.deepEqual(inferred.unet.blockOutChannels, [32, 64, 128]);
    assert.deepEqual(inferred.unet.downBlockTypes, ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D']);
    assert.deepEqual(inferred.unet.sampleSize, [16, 16]);
    assert.deepEqual([inferred.vae.latentChannels, ...inferred.vae.blockOutChannels], [4, 16, 32, 64, 64]);
    assert.deepEqual([inferred.textEncoder.hiddenSize, inferred.textEncoder.maxPositionEmbeddings, inferred.textEncoder.vocabSize], [128, 77, 628]);
    assert.deepEqual([inferred.grid, inferred.nativeWidth, inferred.nativeHeight], [32, 128, 128]);
  });

  test('graphs with anonymous weights and symbolic sizes infer the same values by structure', () => {
    const inferred = readModelConfig(anonymous);
    // Block types come from weight names only; everything else is recovered.
    assert.deepEqual(inferred.unet.downBlockTypes, []);
    assert.deepEqual(values(inferred), { ...values(readModelConfig(configless)), unet: { ...(values(readModelConfig(configless)).unet as object), downBlockTypes: [] } });
  });

  test('renders the same image data through plan and render as the model with its configs', async () => {
    const render = async (model: string) => {
      const file = join(root, `${model}.imgprompt`);
      const text = `model: ${model}\nprompt: a large red circle on the left, blue background\nseed: 42\nsteps: 6\nguidance: 7\nwatermark: off\n`;
      writeFileSync(file, text);
      const plan = await service.plan({ file, context: { projectRoot: root, builtinModelsDir: models } });
      assert.equal(plan.jobs.length, 1);
      return service.render(plan.jobs[0].job);
    };
    const withConfigs = await render('with-configs');
    const inferred = await render('configless');
    const structural = await render('anonymous');
    assert.deepEqual([inferred.image.width, inferred.image.height], [128, 128]);
    assert.ok(idat(inferred.png).equals(idat(withConfigs.png)), 'configless render differs from the render with configs');
    assert.ok(idat(structural.png).equals(idat(withConfigs.png)), 'anonymized configless render differs from the render with configs');
    assert.ok(Buffer.from(inferred.image.data).equals(Buffer.from(withConfigs.image.data)));
    // The recipe names the folder's content hash, which covers its config files.
    assert.notEqual(inferred.job.metadata.model.hash, withConfigs.job.metadata.model.hash);
    // The comparison can fail: the embedded model's own scale (0.372665) gives other pixels.
    copyWithVAEScale(TINY, join(models, 'original'), 0.372665);
    const own = await render('original');
    assert.ok(!idat(own.png).equals(idat(withConfigs.png)), 'the VAE scale did not change the pixels');
  });
});
