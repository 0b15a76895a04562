// The OpenCLIP text graph (checkpoint/convert/openClipTextGraph.ts) against torch: a seeded tower laid out
// as open_clip's TextTransformer and run by torch's own nn.MultiheadAttention / LayerNorm / GELU
// (tools/reference/make_open_clip_text.py), under SD 2.x's prefix and, in another size, under SDXL's.
// - `penultimate` (SD 2.x): last_hidden_state = ln_final of the penultimate block, pooler_output its row at
//   the end-of-text token;
// - `all-with-projection` (SDXL's second encoder): every hidden state before ln_final, last_hidden_state
//   after it, text_embeds through text_projection.
// Tolerance: relative 1e-5 (max |Δ| over max |reference|; float32 in both, different summation order;
// measured ≤ 1e-6). Refusals for a missing projection and a fused projection of the wrong shape.
// Skipped with the reason without Debian's torch.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildOpenClipTextGraph, openClipTextShape, type OpenClipTextUse } from '../../../src/engine/checkpoint/convert/openClipTextGraph';
import { renamedWeights, safetensorsWeights, type WeightSource } from '../../../src/engine/checkpoint/convert/weightSource';
import { InputError } from '../../../src/engine/errors';
import { readSafetensors } from '../../../src/engine/lora/safetensors';
import { ExternalDataWriter } from '../../../src/engine/onnx/graphBuilder';
import { runPythonTool, sd15ReferenceUnavailable } from '../../scale/sd15Random';
import { relativeError } from './graphCompare';

const skip = sd15ReferenceUnavailable();
const work = mkdtempSync(join(tmpdir(), 'imgprompt-openclip-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Encoded { dims: number[]; data: string }
interface Reference {
  prefix: string;
  sizes: Record<string, number>;
  ids: number[][];
  hidden_states: Encoded[];
  last_hidden_state: Encoded;
  text_embeds: Encoded;
  penultimate_hidden_state: Encoded;
  penultimate_pooled: Encoded;
}

function tensor(e: Encoded): ort.Tensor {
  const bytes = Buffer.from(e.data, 'base64');
  return new ort.Tensor('float32', new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)), e.dims);
}

async function build(name: string, source: WeightSource, use: OpenClipTextUse): Promise<string> {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const external = new ExternalDataWriter(join(dir, 'model.onnx_data'), 'model.onnx_data');
  try {
    const { graph, config } = await buildOpenClipTextGraph(source, external, { use });
    writeFileSync(join(dir, 'model.onnx'), graph);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  } finally {
    external.close();
  }
  return join(dir, 'model.onnx');
}

async function run(path: string, ids: number[][]): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
  try {
    return await session.run({ input_ids: new ort.Tensor('int32', Int32Array.from(ids.flat()), [ids.length, ids[0].length]) });
  } finally {
    await session.release();
  }
}

const TOWERS = [
  { name: 'SD 2.x layout (cond_stage_model.model.*)', args: [] as string[] },
  { name: 'SDXL second encoder layout (conditioner.embedders.1.model.*), wider, more blocks', args: ['--prefix', 'conditioner.embedders.1.model.', '--width', '192', '--heads', '3', '--layers', '4', '--projection', '160', '--seed', '11'] },
];

for (const [index, tower] of TOWERS.entries()) {
  describe(`OpenCLIP text graph, ${tower.name}`, { skip }, () => {
    let reference: Reference;
    let source: WeightSource;
    before(async () => {
      const out = join(work, `tower${index}`);
      runPythonTool('tools.reference.make_open_clip_text', ['--out', out, ...tower.args]);
      reference = JSON.parse(readFileSync(join(out, 'reference.json'), 'utf8')) as Reference;
      source = safetensorsWeights(await readSafetensors(join(out, 'open_clip_text.safetensors')), reference.prefix);
    });

    test('reads the sizes off the shapes (64-wide heads)', () => {
      const s = reference.sizes;
      assert.deepEqual(openClipTextShape(source), { width: s.width, heads: s.heads, layers: s.layers, mlpWidth: 4 * s.width, vocab: s.vocab, context: s.context, projectionDim: s.projection });
    });

    test('penultimate (SD 2.x): ln_final of the penultimate block and its end-of-text row equal torch', async () => {
      const out = await run(await build(`pen${index}`, source, 'penultimate'), reference.ids);
      const hidden = relativeError(out.last_hidden_state, tensor(reference.penultimate_hidden_state));
      const pooled = relativeError(out.pooler_output, tensor(reference.penultimate_pooled));
      assert.ok(hidden < 1e-5 && pooled < 1e-5, `relative error: hidden ${hidden}, pooled ${pooled}`);
      const config = JSON.parse(readFileSync(join(work, `pen${index}`, 'config.json'), 'utf8')) as { num_hidden_layers: number; hidden_act: string };
      assert.equal(config.num_hidden_layers, reference.sizes.layers - 1);
      assert.equal(config.hidden_act, 'gelu');
    });

    test('all blocks with projection (SDXL): every hidden state, last_hidden_state and text_embeds equal torch', async () => {
      const out = await run(await build(`all${index}`, source, 'all-with-projection'), reference.ids);
      assert.equal(out.pooler_output, undefined);
      const errors: Record<string, number> = {
        last_hidden_state: relativeError(out.last_hidden_state, tensor(reference.last_hidden_state)),
        text_embeds: relativeError(out.text_embeds, tensor(reference.text_embeds)),
      };
      assert.equal(reference.hidden_states.length, reference.sizes.layers + 1);
      for (const [i, state] of reference.hidden_states.entries()) errors[`hidden_states.${i}`] = relativeError(out[`hidden_states.${i}`], tensor(state));
      for (const [name, e] of Object.entries(errors)) assert.ok(e < 1e-5, `${name}: relative error ${e}`);
    });

    test('refuses a tower without text_projection for the projected use, and a fused projection of the wrong shape', async () => {
      const names = source.names();
      const noProjection = renamedWeights(source, (n) => (n === 'text_projection' ? undefined : n), names);
      await assert.rejects(build(`np${index}`, noProjection, 'all-with-projection'), (e: unknown) => e instanceof InputError && /text_projection/.test(e.message));
      const bad: WeightSource = { ...source, shape: (n) => (n.endsWith('0.attn.in_proj_weight') ? [reference.sizes.width * 2, reference.sizes.width] : source.shape(n)) };
      await assert.rejects(build(`bad${index}`, bad, 'penultimate'), (e: unknown) => e instanceof InputError && /in_proj_weight/.test(e.message) && /expected/.test(e.message));
    });
  });
}
