// The rules inferConfig.ts applies to graphs without a config.json, on hand-made graph skeletons (shapes
// and wiring only: the outline never reads weights): SD 1.x / 2.x sample-size defaults by cross-attention
// width and prediction type, fixed shapes winning over defaults, channels from weights when the export
// left them dynamic (9-channel inpainting), and a ModelError naming what cannot be inferred.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelError } from '../../../src/engine/errors';
import { readModelConfig } from '../../../src/engine/model/modelConfig';
import { SD_VAE_SCALING_FACTOR } from '../../../src/engine/model/inferConfig';
import { ProtoWriter } from '../../../src/engine/onnx/protobuf';

type Dims = (number | string)[];
interface Skeleton {
  inputs: [string, Dims][];
  outputs: [string, Dims][];
  nodes: { op: string; inputs: string[]; outputs: string[]; strides?: number[] }[];
  weights: [string, number[]][];
}

/** A float32 ModelProto with the skeleton's wiring; initializers have shapes but no data. */
function graphBytes(s: Skeleton): Uint8Array {
  const g = new ProtoWriter();
  s.nodes.forEach((n, k) =>
    g.message(1, (w) => {
      for (const i of n.inputs) w.string(1, i);
      for (const o of n.outputs) w.string(2, o);
      w.string(3, `n${k}`).string(4, n.op);
      if (n.strides) {
        const strides = n.strides;
        w.message(5, (a) => (a.string(1, 'strides'), strides.forEach((v) => a.int(8, v)), a.int(20, 7)));
      }
    }),
  );
  for (const [name, dims] of s.weights) g.message(5, (t) => (dims.forEach((d) => t.int(1, d)), t.int(2, 1).string(8, name)));
  const value = (field: number, name: string, dims: Dims) =>
    g.message(field, (v) =>
      v.string(1, name).message(2, (t) => t.message(1, (tt) => tt.int(1, 1).message(2, (sh) => dims.forEach((d) => sh.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d))))))),
    );
  for (const [name, dims] of s.inputs) value(11, name, dims);
  for (const [name, dims] of s.outputs) value(12, name, dims);
  const m = new ProtoWriter().int(1, 8);
  m.embed(7, g);
  m.message(8, (o) => o.string(1, '').int(2, 17));
  return m.finish();
}

const SD15_WIDTHS = [320, 640, 1280, 1280];

/** An SD-shaped UNet skeleton: conv_in, conv_out, named down-block weights (the first three with attention). */
function unet(options: { width?: number; sample?: Dims; inChannels?: number; named?: boolean } = {}): Skeleton {
  const { width = 768, sample = ['batch', 4, 'height', 'width'], inChannels = 4, named = true } = options;
  return {
    inputs: [['sample', sample], ['timestep', ['batch']], ['encoder_hidden_states', ['batch', 'sequence', width]]],
    outputs: [['out_sample', ['batch', 4, 'height', 'width']]],
    nodes: [
      { op: 'Conv', inputs: ['sample', 'conv_in.weight'], outputs: ['h'] },
      { op: 'Conv', inputs: ['h', 'conv_out.weight'], outputs: ['out_sample'] },
    ],
    weights: [
      ['conv_in.weight', [320, inChannels, 3, 3]],
      ['conv_out.weight', [4, 320, 3, 3]],
      ...(named
        ? SD15_WIDTHS.flatMap((c, i): [string, number[]][] => [
            [`down_blocks.${i}.resnets.0.conv2.weight`, [c, c, 3, 3]],
            ...(i < 3 ? [[`down_blocks.${i}.attentions.0.proj_in.weight`, [c, c, 1, 1]] as [string, number[]]] : []),
          ])
        : []),
    ],
  };
}

function modelFolder(files: { unet?: Skeleton | Uint8Array; vae?: Skeleton; textEncoder?: Skeleton; scheduler?: object; index?: object }): string {
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-infer-'));
  writeFileSync(join(dir, 'model_index.json'), JSON.stringify(files.index ?? { _class_name: 'OnnxStableDiffusionPipeline' }));
  const put = (component: string, content: Skeleton | Uint8Array | object | undefined, file = 'model.onnx') => {
    if (content === undefined) return;
    mkdirSync(join(dir, component), { recursive: true });
    writeFileSync(join(dir, component, file), content instanceof Uint8Array ? content : file.endsWith('.json') ? JSON.stringify(content) : graphBytes(content as Skeleton));
  };
  put('unet', files.unet);
  put('vae_decoder', files.vae);
  put('text_encoder', files.textEncoder);
  put('scheduler', files.scheduler, 'scheduler_config.json');
  return dir;
}

function withFolder<T>(files: Parameters<typeof modelFolder>[0], check: (dir: string) => T): T {
  const dir = modelFolder(files);
  try {
    return check(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function rejects(files: Parameters<typeof modelFolder>[0], pattern: RegExp): void {
  withFolder(files, (dir) => assert.throws(() => readModelConfig(dir), (e: unknown) => e instanceof ModelError && pattern.test(e.message)));
}

describe('UNet config from unet/model.onnx', () => {
  test('SD 1.x: 768-wide cross attention and a dynamic sample → 64 latents, 512 pixels; blocks and types from weight names', () => {
    const config = withFolder({ unet: unet() }, readModelConfig);
    assert.deepEqual(config.unet.sampleSize, [64, 64]);
    assert.deepEqual([config.nativeWidth, config.nativeHeight], [512, 512]);
    assert.deepEqual(config.unet.blockOutChannels, SD15_WIDTHS);
    assert.deepEqual(config.unet.downBlockTypes, ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D']);
    assert.deepEqual([config.unet.inChannels, config.unet.outChannels, config.unet.crossAttentionDim], [4, 4, 768]);
    assert.equal(config.grid, 64);
  });

  test('SD 2.x: 1024-wide cross attention → 96 latents with a v-prediction scheduler, 64 with epsilon', () => {
    const v = withFolder({ unet: unet({ width: 1024 }), scheduler: { _class_name: 'EulerDiscreteScheduler', prediction_type: 'v_prediction' } }, readModelConfig);
    assert.deepEqual([v.unet.sampleSize, v.nativeWidth], [[96, 96], 768]);
    const eps = withFolder({ unet: unet({ width: 1024 }), scheduler: { _class_name: 'EulerDiscreteScheduler', prediction_type: 'epsilon' } }, readModelConfig);
    assert.deepEqual([eps.unet.sampleSize, eps.nativeWidth], [[64, 64], 512]);
  });

  test('a fixed sample shape wins over the defaults; model_index.json imgprompt.native_size over the width rule', () => {
    const fixed = withFolder({ unet: unet({ sample: [2, 4, 40, 56] }) }, readModelConfig);
    assert.deepEqual([fixed.unet.sampleSize, fixed.nativeWidth, fixed.nativeHeight], [[40, 56], 448, 320]);
    const declared = withFolder({ unet: unet(), index: { imgprompt: { native_size: [640, 384] } } }, readModelConfig);
    assert.deepEqual([declared.unet.sampleSize, declared.nativeWidth, declared.nativeHeight], [[48, 80], 640, 384]);
  });

  test("a dynamic channel axis (the conversion script's) takes in_channels from conv_in: 9-channel inpainting", () => {
    const config = withFolder({ unet: unet({ sample: ['batch', 'channels', 'height', 'width'], inChannels: 9 }) }, readModelConfig);
    assert.deepEqual([config.unet.inChannels, config.unet.outChannels], [9, 4]);
  });

  test('what cannot be inferred is a ModelError naming the field, the graph and the config to add', () => {
    rejects({ unet: unet({ width: 512 }) }, /unet\/model\.onnx: unet\/config\.json is missing and 'sample_size' cannot be inferred .*cross-attention width 512 .*add unet\/config\.json stating "sample_size"/);
    rejects({ unet: unet({ named: false }) }, /'block_out_channels' cannot be inferred .*no down_blocks\.\*\.conv2 weights/);
    const noConvIn = unet({ sample: ['batch', 'channels', 'height', 'width'] });
    noConvIn.nodes = noConvIn.nodes.filter((n) => n.inputs[0] !== 'sample');
    rejects({ unet: noConvIn }, /'in_channels' cannot be inferred from this graph \('sample' has no fixed channel count and no Conv reads it\)/);
  });

  test('no config and no graph, or a graph that is not ONNX', () => {
    rejects({}, /unet\/config\.json: missing, and so is unet\/model\.onnx/);
    rejects({ unet: Uint8Array.from([1, 2, 3, 4, 5]) }, /unet\/model\.onnx: unet\/config\.json is missing and the graph it would be inferred from cannot be read/);
  });

  test('stride-2 convolutions and the first upsampler give the block widths when weights are anonymous', () => {
    const skeleton = unet({ named: false });
    skeleton.nodes.push(
      { op: 'Conv', inputs: ['h', 'd0'], outputs: ['x0'], strides: [2, 2] },
      { op: 'Conv', inputs: ['x0', 'd1'], outputs: ['x1'], strides: [2, 2] },
      { op: 'Conv', inputs: ['x1', 'd2'], outputs: ['x2'], strides: [2, 2] },
      { op: 'Conv', inputs: ['x2', 'r'], outputs: ['x3'], strides: [1, 1] },
      { op: 'Resize', inputs: ['x3'], outputs: ['u0'] },
      { op: 'Cast', inputs: ['u0'], outputs: ['u0c'] },
      { op: 'Conv', inputs: ['u0c', 'up0'], outputs: ['y0'] },
    );
    skeleton.weights.push(['d0', [320, 320, 3, 3]], ['d1', [640, 640, 3, 3]], ['d2', [1280, 1280, 3, 3]], ['r', [1280, 1280, 3, 3]], ['up0', [1280, 1280, 3, 3]]);
    const config = withFolder({ unet: skeleton }, readModelConfig);
    assert.deepEqual(config.unet.blockOutChannels, SD15_WIDTHS);
    assert.equal(config.unetDownsampleFactor, 8);
  });
});

describe('VAE and text encoder configs from their graphs', () => {
  const vae = (named: boolean): Skeleton => ({
    inputs: [['latent_sample', ['batch', 'channels', 'height', 'width']]],
    outputs: [['sample', ['batch', 3, 'height', 'width']]],
    nodes: [
      { op: 'Conv', inputs: ['latent_sample', 'post_quant_conv.weight'], outputs: ['z'] },
      ...['a', 'b', 'c'].flatMap((k, i) => [
        { op: 'Resize', inputs: [i === 0 ? 'z' : `c${i - 1}`], outputs: [`r${i}`] },
        { op: 'Conv', inputs: [`r${i}`, `up${k}`], outputs: [`c${i}`] },
      ]),
      { op: 'Conv', inputs: ['c2', 'conv_out.weight'], outputs: ['sample'] },
    ],
    weights: [
      ['post_quant_conv.weight', [4, 4, 1, 1]],
      ['upa', [512, 512, 3, 3]],
      ['upb', [512, 512, 3, 3]],
      ['upc', [256, 256, 3, 3]],
      ['conv_out.weight', [3, 128, 3, 3]],
      ...(named ? [512, 512, 256, 128].map((c, i): [string, number[]] => [`decoder.up_blocks.${i}.resnets.0.conv2.weight`, [c, c, 3, 3]]) : []),
    ],
  });

  test('latent channels from post_quant_conv; blocks from up_blocks names, else from the upsamplers and conv_out; scale 0.18215', () => {
    for (const named of [true, false]) {
      const config = withFolder({ unet: unet(), vae: vae(named) }, readModelConfig);
      assert.deepEqual([config.vae.latentChannels, config.vae.blockOutChannels, config.vaeScaleFactor], [4, [128, 256, 512, 512], 8], `named ${named}`);
      assert.equal(config.vae.scalingFactor, SD_VAE_SCALING_FACTOR);
      assert.equal(config.vae.scalingFactor, 0.18215);
    }
  });

  const textEncoder = (named: boolean): Skeleton => {
    const tok = named ? 'text_model.embeddings.token_embedding.weight' : 'w0';
    const pos = named ? 'text_model.embeddings.position_embedding.weight' : 'w1';
    return {
    inputs: [['input_ids', ['batch', 'sequence']]],
    outputs: [['last_hidden_state', ['batch', 'sequence', 'hidden']]],
    nodes: [
      { op: 'Cast', inputs: ['input_ids'], outputs: ['ids64'] },
      { op: 'Reshape', inputs: ['ids64', 'shape'], outputs: ['ids'] },
      { op: 'Gather', inputs: [tok, 'ids'], outputs: ['t'] },
      { op: 'Gather', inputs: [pos, 'position_ids'], outputs: ['p'] },
      { op: 'Add', inputs: ['t', 'p'], outputs: ['last_hidden_state'] },
    ],
    weights: [
      [tok, [49408, 1024]],
      [pos, [77, 1024]],
      ['position_ids', [1, 77]],
    ],
    };
  };

  test('vocab, width and positions from the embeddings, by name or by the Gather that reads input_ids', () => {
    for (const named of [true, false]) {
      const config = withFolder({ unet: unet({ width: 1024 }), textEncoder: textEncoder(named) }, readModelConfig);
      assert.deepEqual([config.textEncoder.vocabSize, config.textEncoder.hiddenSize, config.textEncoder.maxPositionEmbeddings], [49408, 1024, 77], `named ${named}`);
      assert.equal(config.tokenizer.modelMaxLength, 77);
    }
  });

  test('a text encoder without a recognisable embedding is a ModelError naming the field', () => {
    const skeleton = textEncoder(false);
    skeleton.nodes = skeleton.nodes.filter((n) => n.op !== 'Gather');
    rejects({ unet: unet(), textEncoder: skeleton }, /text_encoder\/model\.onnx: text_encoder\/config\.json is missing and 'vocab_size' cannot be inferred/);
    rejects({ unet: unet(), vae: { ...vae(false), nodes: [], weights: [] } }, /vae_decoder\/config\.json is missing and 'latent_channels' cannot be inferred/);
  });
});
