// The CLIP text encoder written by checkpoint/convert/clipTextGraph.ts.
//
// 1. Without Python: a tiny random CLIP (2 layers, width 8) against a float64 JavaScript forward pass of
//    transformers' CLIPTextTransformer, for every supported hidden_act and both pooling rules, plus the
//    refusals (config, missing and misshapen weights). Tolerance 1e-5 absolute (outputs are O(1); float32
//    accumulation over widths ≤ 16 errs by ~1e-7).
// 2. With Debian's torch: the seeded toy SD 1.5 (tools/sd15_random, generated into the cache when absent).
//    The reference is make_model.sh's optimum-layout text_encoder/model.onnx (the PyTorch CLIPTextModel
//    exported by torch); the weights come from make_checkpoints.py's diffusers folder and single-file LDM
//    checkpoints of the same seed. Graphs built from the diffusers folder and from the fp32 single file must
//    be byte-identical; their outputs must match the export within 1e-5 (measured: 0, the same float32
//    operations in the same order). The fp16 single file must equal the fp32 weights rounded to fp16
//    (exactly), and stays within 1e-2 of the fp32 export (measured 2.4e-3 with |values| up to 3.7:
//    weights rounded to 11 significant bits). The engine's own text-encoder path loads the built folder, and
//    its clip-skip and textual-inversion rewrites and LoRA target lookup work on it as on the export.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildClipTextGraph, clipTextWeightNames, type ClipTextConfig } from '../../../src/engine/checkpoint/convert/clipTextGraph';
import { ldmClipWeights } from '../../../src/engine/checkpoint/convert/ldmClipNames';
import { renamedWeights, safetensorsWeights, type WeightSource } from '../../../src/engine/checkpoint/convert/weightSource';
import { InputError, ModelError } from '../../../src/engine/errors';
import { readSafetensors } from '../../../src/engine/lora/safetensors';
import { onnxWeightTargets, weightLayout } from '../../../src/engine/lora/onnxTargets';
import { clipSkipPatch } from '../../../src/engine/model/clipSkip';
import { CLIPTextEncoder } from '../../../src/engine/model/clipTextEncoder';
import { acquireComponent } from '../../../src/engine/model/componentLease';
import { textualInversionPatch } from '../../../src/engine/model/textualInversion';
import { fromFloat16Bits, toFloat16Bits } from '../../../src/engine/onnx/float16';
import { ExternalDataWriter } from '../../../src/engine/onnx/graphBuilder';
import { readInitializerBytes, readOnnxModelFiles } from '../../../src/engine/onnx/onnxModelFiles';
import type { WeightPatch } from '../../../src/engine/onnx/sessionCache';
import { SessionCache } from '../../../src/engine/onnx/sessionCache';
import { loadCLIPTokenizer } from '../../../src/engine/tokenizer/CLIPTokenizer';
import { ensureSd15Checkpoints, sd15ReferenceUnavailable } from '../../scale/sd15Random';

const work = mkdtempSync(join(tmpdir(), 'imgprompt-clip-graph-'));
after(() => rmSync(work, { recursive: true, force: true }));

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** Builds the graph from `weights` into `dir` (model.onnx + model.onnx_data); returns the folder. */
async function buildInto(dir: string, config: ClipTextConfig, weights: WeightSource): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const external = new ExternalDataWriter(join(dir, 'model.onnx_data'), 'model.onnx_data');
  try {
    writeFileSync(join(dir, 'model.onnx'), await buildClipTextGraph(config, weights, external));
  } finally {
    external.close();
  }
  return dir;
}

async function runGraph(dir: string, ids: readonly (readonly number[])[]): Promise<{ hidden: ort.Tensor; pooled: ort.Tensor }> {
  const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
  try {
    const out = await session.run({ input_ids: new ort.Tensor('int32', Int32Array.from(ids.flat()), [ids.length, ids[0].length]) });
    return { hidden: out.last_hidden_state, pooled: out.pooler_output };
  } finally {
    await session.release();
  }
}

// ------------------------------------------------------------------------------------------ without Python

/** Weights held in memory under their names, [out, in] for Linear layers as in a checkpoint. */
function memoryWeights(tensors: Map<string, { shape: number[]; values: Float32Array }>): WeightSource {
  return {
    origin: 'memory',
    has: (name) => tensors.has(name),
    shape: (name) => {
      const t = tensors.get(name);
      if (!t) throw new InputError(`weight '${name}' is missing`, 'memory');
      return t.shape;
    },
    get: async (name) => {
      const t = tensors.get(name);
      if (!t) throw new InputError(`weight '${name}' is missing`, 'memory');
      return t.values;
    },
    names: () => [...tensors.keys()],
  };
}

const TINY: ClipTextConfig = {
  hidden_size: 8,
  intermediate_size: 16,
  num_attention_heads: 2,
  num_hidden_layers: 2,
  max_position_embeddings: 7,
  layer_norm_eps: 1e-5,
  hidden_act: 'quick_gelu',
  vocab_size: 12,
};

/** Random weights for `c` from a fixed linear congruential sequence; norms random too, so they matter. */
function tinyWeights(c: ClipTextConfig): Map<string, { shape: number[]; values: Float32Array }> {
  let state = 12345;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  const d = c.hidden_size;
  const shapes = new Map<string, number[]>();
  for (const name of clipTextWeightNames(c)) {
    const dims = name.includes('token_embedding') ? [c.vocab_size, d]
      : name.includes('position_embedding') ? [c.max_position_embeddings, d]
      : name.includes('fc1.weight') ? [c.intermediate_size, d]
      : name.includes('fc1.bias') ? [c.intermediate_size]
      : name.includes('fc2.weight') ? [d, c.intermediate_size]
      : name.includes('_proj.weight') ? [d, d]
      : [d];
    shapes.set(name, dims);
  }
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [name, shape] of shapes) {
    const count = shape.reduce((a, b) => a * b, 1);
    const norm = name.includes('norm') && name.endsWith('.weight');
    out.set(name, { shape, values: Float32Array.from({ length: count }, () => (norm ? 1 + next() : 2 * next())) });
  }
  return out;
}

/** transformers' CLIPTextTransformer in float64: [batch][position] rows of last_hidden_state, and the pooled rows. */
function referenceClip(c: ClipTextConfig, w: Map<string, { values: Float32Array }>, ids: number[][]): { hidden: number[][][]; pooled: number[][] } {
  const W = (name: string) => w.get(name)!.values;
  const d = c.hidden_size;
  const heads = c.num_attention_heads;
  const hd = d / heads;
  const linear = (x: number[], prefix: string, cin: number, cout: number) => {
    const wt = W(`${prefix}.weight`);
    const b = W(`${prefix}.bias`);
    return Array.from({ length: cout }, (_v, o) => x.reduce((s, xi, i) => s + xi * wt[o * cin + i], b[o]));
  };
  const norm = (x: number[], prefix: string) => {
    const mean = x.reduce((a, b) => a + b, 0) / d;
    const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / d;
    const g = W(`${prefix}.weight`);
    const b = W(`${prefix}.bias`);
    return x.map((v, i) => ((v - mean) / Math.sqrt(variance + c.layer_norm_eps)) * g[i] + b[i]);
  };
  // erf by Simpson's rule on 2/√π·exp(-t²) over [0, x] (4000 intervals: error below 1e-12 for |x| ≤ 10).
  const erf = (x: number) => {
    const n = 4000;
    const h = x / n;
    let sum = 1 + Math.exp(-x * x);
    for (let i = 1; i < n; i++) sum += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
    return ((2 / Math.sqrt(Math.PI)) * sum * h) / 3;
  };
  const act = (x: number) => {
    if (c.hidden_act === 'quick_gelu') return x / (1 + Math.exp(-1.702 * x));
    if (c.hidden_act === 'gelu') return 0.5 * x * (1 + erf(x / Math.SQRT2));
    return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  };
  const hidden = ids.map((row) => {
    let x = row.map((id, p) => Array.from({ length: d }, (_v, i) => W('text_model.embeddings.token_embedding.weight')[id * d + i] + W('text_model.embeddings.position_embedding.weight')[p * d + i]));
    for (let l = 0; l < c.num_hidden_layers; l++) {
      const p = `text_model.encoder.layers.${l}`;
      const h = x.map((v) => norm(v, `${p}.layer_norm1`));
      const q = h.map((v) => linear(v, `${p}.self_attn.q_proj`, d, d).map((e) => e * hd ** -0.5));
      const k = h.map((v) => linear(v, `${p}.self_attn.k_proj`, d, d));
      const v = h.map((u) => linear(u, `${p}.self_attn.v_proj`, d, d));
      const attended = q.map((qt, t) => {
        const out = new Array<number>(d).fill(0);
        for (let head = 0; head < heads; head++) {
          const scores = Array.from({ length: t + 1 }, (_s, s) => Array.from({ length: hd }, (_e, e) => qt[head * hd + e] * k[s][head * hd + e]).reduce((a, b) => a + b, 0));
          const max = Math.max(...scores);
          const exps = scores.map((s) => Math.exp(s - max));
          const total = exps.reduce((a, b) => a + b, 0);
          for (let s = 0; s <= t; s++) for (let e = 0; e < hd; e++) out[head * hd + e] += (exps[s] / total) * v[s][head * hd + e];
        }
        return linear(out, `${p}.self_attn.out_proj`, d, d);
      });
      x = x.map((xt, t) => xt.map((e, i) => e + attended[t][i]));
      x = x.map((xt) => {
        const m = linear(linear(norm(xt, `${p}.layer_norm2`), `${p}.mlp.fc1`, d, c.intermediate_size).map(act), `${p}.mlp.fc2`, c.intermediate_size, d);
        return xt.map((e, i) => e + m[i]);
      });
    }
    return x.map((xt) => norm(xt, 'text_model.final_layer_norm'));
  });
  const eos = c.eos_token_id;
  const pooled = ids.map((row, b) => {
    const keys = eos === undefined || eos === 2 ? row : row.map((id) => (id === eos ? 1 : 0));
    return hidden[b][keys.indexOf(Math.max(...keys))];
  });
  return { hidden, pooled };
}

describe('CLIP text graph on a tiny random model (JavaScript reference)', () => {
  // Row 0: the highest id (11) comes before id 5, so argmax pooling and eos_token_id 5 pick different rows.
  const ids = [
    [10, 3, 11, 5, 5],
    [10, 1, 2, 11, 0],
    [10, 5, 7, 8, 9],
  ];
  const cases: [string, Partial<ClipTextConfig>][] = [
    ['quick_gelu, argmax pooling', {}],
    ['gelu (erf)', { hidden_act: 'gelu' }],
    ['gelu_new (tanh)', { hidden_act: 'gelu_new' }],
    ['gelu_pytorch_tanh', { hidden_act: 'gelu_pytorch_tanh' }],
    ['eos_token_id 5: pooled at the first 5', { eos_token_id: 5 }],
    ['eos_token_id 2 (openai configs): argmax pooling', { eos_token_id: 2 }],
  ];
  for (const [label, change] of cases) {
    test(`${label}: outputs within 1e-5 of transformers' computation, sequence 5 of 7 positions`, async () => {
      const config = { ...TINY, ...change };
      const weights = tinyWeights(config);
      const dir = await buildInto(join(work, `tiny-${label.replace(/\W+/g, '-')}`), config, memoryWeights(weights));
      const { hidden, pooled } = await runGraph(dir, ids);
      const ref = referenceClip(config, weights, ids);
      assert.deepEqual(hidden.dims, [3, 5, 8]);
      assert.deepEqual(pooled.dims, [3, 8]);
      const h = maxDiff(hidden.data as Float32Array, ref.hidden.flat(2));
      const p = maxDiff(pooled.data as Float32Array, ref.pooled.flat());
      assert.ok(h <= 1e-5 && p <= 1e-5, `max |graph - reference|: last_hidden_state ${h}, pooler_output ${p}`);
    });
  }

  test('progress: onWeight counts every weight once, up to the total', async () => {
    const external = new ExternalDataWriter(join(work, 'progress.onnx_data'), 'progress.onnx_data');
    const seen: [number, number][] = [];
    try {
      await buildClipTextGraph(TINY, memoryWeights(tinyWeights(TINY)), external, { onWeight: (done, total) => seen.push([done, total]) });
    } finally {
      external.close();
    }
    const total = clipTextWeightNames(TINY).length;
    assert.equal(total, 2 + 16 * TINY.num_hidden_layers + 2);
    assert.deepEqual(seen, Array.from({ length: total }, (_v, i) => [i + 1, total]));
  });

  test('a config it cannot build is a ModelError naming the field', async () => {
    const external = new ExternalDataWriter(join(work, 'refused.onnx_data'), 'refused.onnx_data');
    try {
      const weights = memoryWeights(tinyWeights(TINY));
      for (const [change, pattern] of [
        [{ num_attention_heads: 3 }, /hidden_size 8 is not divisible by num_attention_heads 3/],
        [{ hidden_act: 'relu' }, /hidden_act 'relu' is not supported/],
        [{ num_hidden_layers: 0 }, /num_hidden_layers is 0/],
        [{ layer_norm_eps: undefined }, /layer_norm_eps is undefined/],
      ] as const) {
        await assert.rejects(buildClipTextGraph({ ...TINY, ...change } as ClipTextConfig, weights, external), (e: Error) => e instanceof ModelError && pattern.test(e.message));
      }
    } finally {
      external.close();
    }
  });

  test('a missing or misshapen weight is an InputError naming it', async () => {
    const external = new ExternalDataWriter(join(work, 'bad.onnx_data'), 'bad.onnx_data');
    try {
      const missing = tinyWeights(TINY);
      missing.delete('text_model.encoder.layers.1.mlp.fc2.bias');
      await assert.rejects(buildClipTextGraph(TINY, memoryWeights(missing), external), (e: Error) => e instanceof InputError && /'text_model\.encoder\.layers\.1\.mlp\.fc2\.bias' is missing/.test(e.message));
      const wide = tinyWeights(TINY);
      wide.set('text_model.encoder.layers.0.mlp.fc1.weight', { shape: [32, 8], values: new Float32Array(256) });
      await assert.rejects(buildClipTextGraph(TINY, memoryWeights(wide), external), (e: Error) => e instanceof InputError && /fc1\.weight' has shape \[32, 8\], expected \[16, 8\]/.test(e.message));
      // A config saying 3 layers for a 2-layer checkpoint.
      await assert.rejects(buildClipTextGraph({ ...TINY, num_hidden_layers: 3 }, memoryWeights(tinyWeights(TINY)), external), (e: Error) => e instanceof InputError && /layers\.2\.layer_norm1\.weight' is missing/.test(e.message));
    } finally {
      external.close();
    }
  });
});

// ------------------------------------------------------------------------------------------ toy SD 1.5

type Toy = ReturnType<typeof ensureSd15Checkpoints>;
let toy: Toy | undefined;

/** The toy ONNX folder and the checkpoints of the same seed, generated into the cache when absent (~1.5 min). */
function ensureToy(): Toy {
  return (toy ??= ensureSd15Checkpoints('toy'));
}

const toySkip = sd15ReferenceUnavailable();

describe('CLIP text graph on the toy SD 1.5 against its optimum export', { skip: toySkip, timeout: 600_000 }, () => {
  const cache = new SessionCache();
  after(() => cache.clear());
  const built = new Map<string, string>();

  async function config(): Promise<ClipTextConfig> {
    return JSON.parse(readFileSync(join(ensureToy().checkpoints, 'diffusers', 'text_encoder', 'config.json'), 'utf8')) as ClipTextConfig;
  }

  async function source(kind: 'diffusers' | 'ldm' | 'ldm-fp16'): Promise<WeightSource> {
    const t = ensureToy();
    // anyDtype: the files carry transformers' int64 position_ids buffer beside the float weights.
    if (kind === 'diffusers') return safetensorsWeights(await readSafetensors(join(t.checkpoints, 'diffusers', 'text_encoder', 'model.safetensors'), { anyDtype: true }));
    const file = kind === 'ldm' ? 'sd15-random-toy.safetensors' : 'sd15-random-toy-fp16.safetensors';
    return ldmClipWeights(safetensorsWeights(await readSafetensors(join(t.checkpoints, file), { anyDtype: true })));
  }

  /** The graph built from `kind`, once per run. */
  async function graph(kind: 'diffusers' | 'ldm' | 'ldm-fp16'): Promise<string> {
    let dir = built.get(kind);
    if (!dir) built.set(kind, (dir = await buildInto(join(work, `toy-${kind}`), await config(), await source(kind))));
    return dir;
  }

  /** Tokenized prompts (77 ids each, EOS-padded) from the toy tokenizer. */
  async function prompts(): Promise<number[][]> {
    const tokenizer = await loadCLIPTokenizer(join(ensureToy().onnx, 'tokenizer'));
    return [
      'a photo of a cat sitting on a windowsill',
      '',
      'an astronaut riding a horse on the moon, highly detailed, 8k, dramatic lighting',
      'word '.repeat(90), // truncated: EOS at position 76
    ].map((p) => [...tokenizer.encodePrompt(p).ids]);
  }

  async function encode(dir: string, ids: number[][], patch?: WeightPatch) {
    const lease = await acquireComponent(cache, dir, CLIPTextEncoder, { patch });
    try {
      return await lease.component.encode(ids);
    } finally {
      lease.release();
    }
  }

  test('from the diffusers folder: optimum I/O (input_ids int32 → last_hidden_state, pooler_output); outputs within 1e-5 of the export', async (t) => {
    const dir = await graph('diffusers');
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
    try {
      assert.deepEqual(session.inputMetadata.map((m) => (m.isTensor ? [m.name, m.type, m.shape] : [])), [['input_ids', 'int32', ['batch_size', 'sequence_length']]]);
      assert.deepEqual(session.outputMetadata.map((m) => (m.isTensor ? [m.name, m.type, m.shape] : [])), [
        ['last_hidden_state', 'float32', ['batch_size', 'sequence_length', 64]],
        ['pooler_output', 'float32', ['batch_size', 64]],
      ]);
    } finally {
      await session.release();
    }
    const ids = await prompts();
    // Also a shorter sequence than 77 (dynamic length): BOS, 9 tokens, EOS, padding.
    const short = ids.slice(0, 2).map((row) => [...row.slice(0, 10), 49407, 49407]);
    for (const batch of [ids, short]) {
      const mine = await runGraph(dir, batch);
      const ref = await runGraph(join(ensureToy().onnx, 'text_encoder'), batch);
      assert.deepEqual(mine.hidden.dims, ref.hidden.dims);
      assert.deepEqual(mine.pooled.dims, ref.pooled.dims);
      const h = maxDiff(mine.hidden.data as Float32Array, ref.hidden.data as Float32Array);
      const p = maxDiff(mine.pooled.data as Float32Array, ref.pooled.data as Float32Array);
      t.diagnostic(`batch ${batch.length} × ${batch[0].length}: max |built - export| last_hidden_state ${h}, pooler_output ${p}`);
      assert.ok(h <= 1e-5 && p <= 1e-5, `last_hidden_state ${h}, pooler_output ${p}`);
    }
  });

  test('from the fp32 single-file checkpoint (and its pre-text_model layout): the same bytes as from the diffusers folder', async () => {
    const a = await graph('diffusers');
    const b = await graph('ldm');
    for (const file of ['model.onnx', 'model.onnx_data']) assert.ok(readFileSync(join(a, file)).equals(readFileSync(join(b, file))), `${file} differs`);

    // Older transformers saved the model without `text_model.`: cond_stage_model.transformer.embeddings.…
    const file = safetensorsWeights(await readSafetensors(join(ensureToy().checkpoints, 'sd15-random-toy.safetensors'), { anyDtype: true }));
    const modern = 'cond_stage_model.transformer.text_model.';
    const legacyNames = file.names().map((n) => (n.startsWith(modern) ? `cond_stage_model.transformer.${n.slice(modern.length)}` : n));
    const legacy = renamedWeights(file, (n) => (n.startsWith('cond_stage_model.transformer.') && !n.startsWith(modern) ? modern + n.slice('cond_stage_model.transformer.'.length) : n.startsWith(modern) ? undefined : n), legacyNames);
    const view = ldmClipWeights(legacy);
    const diffusers = await source('diffusers');
    const names = clipTextWeightNames(await config());
    assert.deepEqual(view.names().sort(), [...names].sort(), 'the view offers exactly the weights (no position_ids)');
    for (const name of names) assert.deepEqual(await view.get(name), await diffusers.get(name), name);
  });

  test('from the fp16 single-file checkpoint: exactly the fp32 weights rounded to fp16; outputs within 1e-2 of the fp32 export', async (t) => {
    const half = await source('ldm-fp16');
    const full = await source('diffusers');
    for (const name of clipTextWeightNames(await config())) {
      const rounded = (await full.get(name)).map((v) => fromFloat16Bits(toFloat16Bits(v)));
      assert.deepEqual(await half.get(name), rounded, name);
    }
    const ids = await prompts();
    const mine = await runGraph(await graph('ldm-fp16'), ids);
    const ref = await runGraph(join(ensureToy().onnx, 'text_encoder'), ids);
    const h = maxDiff(mine.hidden.data as Float32Array, ref.hidden.data as Float32Array);
    const p = maxDiff(mine.pooled.data as Float32Array, ref.pooled.data as Float32Array);
    t.diagnostic(`fp16 weights: max |built - fp32 export| last_hidden_state ${h}, pooler_output ${p}`);
    assert.ok(h <= 1e-2 && p <= 1e-2, `last_hidden_state ${h}, pooler_output ${p}`);
  });

  test("the engine's text encoder runs the built folder, with clip skip 2 and a textual-inversion embedding as on the export", async (t) => {
    const dir = await graph('diffusers');
    const exported = join(ensureToy().onnx, 'text_encoder');
    const ids = await prompts();
    const vocab = (await config()).vocab_size;
    const vectors = Float32Array.from({ length: 2 * 64 }, (_v, i) => Math.sin(i) / 10);
    const inversion = { path: 'test-embedding.safetensors', sha256: 'clip-graph-test', tensor: 'emb_params', count: 2, width: 64, vectors };
    const withEmbedding = ids.map((row) => [row[0], vocab, vocab + 1, ...row.slice(1, 75)]);
    for (const [label, batch, patch] of [
      ['as exported', ids, undefined],
      ['clip skip 2', ids, clipSkipPatch(2)],
      ['textual inversion', withEmbedding, textualInversionPatch([inversion], vocab)],
    ] as const) {
      const mine = await encode(dir, batch, patch);
      const ref = await encode(exported, batch, patch);
      const h = maxDiff(mine.lastHiddenState.data, ref.lastHiddenState.data);
      const p = maxDiff(mine.pooledOutput!.data, ref.pooledOutput!.data);
      t.diagnostic(`${label}: max |built - export| last_hidden_state ${h}, pooler_output ${p}`);
      assert.ok(h <= 1e-5 && p <= 1e-5, `${label}: last_hidden_state ${h}, pooler_output ${p}`);
    }
    // Clip skip really changed the hidden states (and not the pooled output, which stays on the last layer).
    const plain = await encode(dir, ids);
    const skipped = await encode(dir, ids, clipSkipPatch(2));
    assert.ok(maxDiff(plain.lastHiddenState.data, skipped.lastHiddenState.data) > 0.1);
    assert.equal(maxDiff(plain.pooledOutput!.data, skipped.pooledOutput!.data), 0);
  });

  test('LoRA targets: every Linear of the built graph is found by its module key, [in, out], with the export’s values', async () => {
    const c = await config();
    const mine = await readOnnxModelFiles(join(await graph('diffusers'), 'model.onnx'));
    const ref = await readOnnxModelFiles(join(ensureToy().onnx, 'text_encoder', 'model.onnx'));
    const mineTargets = onnxWeightTargets(mine.info);
    const refTargets = onnxWeightTargets(ref.info);
    const modules = clipTextWeightNames(c).filter((n) => /_proj\.weight$|fc\d\.weight$/.test(n)).map((n) => n.slice(0, -'.weight'.length));
    assert.equal(modules.length, 6 * c.num_hidden_layers);
    for (const module of modules) {
      const key = module.replaceAll('.', '_');
      const target = mineTargets.find(key);
      assert.ok(target, `no target for ${key}`);
      assert.equal(target.opType, 'MatMul');
      const [cin, cout] = target.initializer.dims;
      assert.equal(weightLayout(target, cout, cin), 'in_out', key);
      const other = refTargets.find(key);
      assert.ok(other, `the export has no target for ${key}`);
      assert.deepEqual(other.initializer.dims, target.initializer.dims);
      const [a, b] = [await readInitializerBytes(mine, target.initializer), await readInitializerBytes(ref, other.initializer)];
      assert.ok(a && b && Buffer.from(a).equals(Buffer.from(b)), `${key}: values differ from the export's`);
    }
  });
});
