// Runs tools/sd15_random/make_checkpoints.py at toy size into a temporary folder (the seeded random SD 1.5
// weights as a single-file LDM checkpoint, fp32 and fp16, and as a diffusers safetensors folder; its own
// --check reads every tensor back through the LDM -> diffusers mapping), then reads the safetensors
// headers from Node: key prefixes and counts, characteristic LDM shapes, dtypes, and that the LDM and
// diffusers files hold the same bytes. Skipped, with the reason, when no Python with torch is present.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');
// Debian's interpreter, where python3-torch installs; a pyenv python earlier on PATH cannot import it.
const python = process.env.IMGPROMPT_PYTHON ?? '/usr/bin/python3';
const env = { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' };

function torchMissing(): string | false {
  if (!existsSync(python)) return `${python} does not exist (set IMGPROMPT_PYTHON; see tools/tiny_model/setup.sh)`;
  const probe = spawnSync(python, ['-c', 'import torch, numpy'], { env, encoding: 'utf8', timeout: 60_000 });
  if (probe.status !== 0) {
    const why = (probe.stderr || probe.error?.message || '').trim().split('\n').pop();
    return `${python} cannot import torch/numpy (${why}); run tools/tiny_model/setup.sh`;
  }
  return false;
}

interface TensorInfo {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}
interface Safetensors {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string> | undefined;
  dataStart: number;
  path: string;
}

/** The header of a .safetensors file, with its structure checked: tensors back to back, covering the data. */
function readHeader(path: string): Safetensors {
  const fd = openSync(path, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    assert.ok(n > 0 && n % 8 === 0 && 8 + n <= statSync(path).size, `${path}: header length ${n}`);
    const text = Buffer.alloc(n);
    readSync(fd, text, 0, n, 8);
    const json = JSON.parse(text.toString('utf8')) as Record<string, unknown>;
    const metadata = json.__metadata__ as Record<string, string> | undefined;
    delete json.__metadata__;
    const tensors = new Map(Object.entries(json as Record<string, TensorInfo>));
    const size: Record<string, number> = { F32: 4, F16: 2, I64: 8 };
    const spans = [...tensors].map(([name, t]) => {
      const count = t.shape.reduce((a, b) => a * b, 1);
      assert.equal(t.data_offsets[1] - t.data_offsets[0], count * size[t.dtype], `${path}: ${name} ${t.dtype} ${t.shape}`);
      return t.data_offsets;
    });
    spans.sort((a, b) => a[0] - b[0]);
    let at = 0;
    for (const [b, e] of spans) {
      assert.equal(b, at, `${path}: gap or overlap at ${b}`);
      at = e;
    }
    assert.equal(8 + n + at, statSync(path).size, `${path}: data does not end the file`);
    return { tensors, metadata, dataStart: 8 + n, path };
  } finally {
    closeSync(fd);
  }
}

function bytesOf(f: Safetensors, name: string): Buffer {
  const t = f.tensors.get(name);
  assert.ok(t, `${f.path}: no tensor ${name}`);
  const [b, e] = t.data_offsets;
  const out = Buffer.alloc(e - b);
  const fd = openSync(f.path, 'r');
  try {
    readSync(fd, out, 0, e - b, f.dataStart + b);
  } finally {
    closeSync(fd);
  }
  return out;
}

const UNET = 'model.diffusion_model.';
const VAE = 'first_stage_model.';
const CLIP = 'cond_stage_model.transformer.';

function countByPrefix(f: Safetensors): Record<string, number> {
  const counts: Record<string, number> = { [UNET]: 0, [VAE]: 0, [CLIP]: 0, other: 0 };
  for (const k of f.tensors.keys()) counts[[UNET, VAE, CLIP].find((p) => k.startsWith(p)) ?? 'other'] += 1;
  return counts;
}

function elements(f: Safetensors, prefix = ''): number {
  let n = 0;
  for (const [k, t] of f.tensors) if (k.startsWith(prefix)) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}

const skip = torchMissing();
let dir = '';
let run: { status: number | null; stdout: string; stderr: string } | undefined;

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'sd15-checkpoints-'));
  run = spawnSync(python, ['-m', 'tools.sd15_random.make_checkpoints', '--scale', 'toy', '--out', dir, '--check'], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 280_000,
  });
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('make_checkpoints --scale toy --check: writes all three and reads every tensor back equal', { skip, timeout: 300_000 }, () => {
  assert.ok(run);
  assert.equal(run.status, 0, `make_checkpoints.py exited ${run.status}:\n${run.stdout}\n${run.stderr}`);
  // The full-scale layout check on the meta device: a real SD 1.5's tensor counts.
  assert.match(run.stdout, /full-scale LDM layout \(meta device\): model\.diffusion_model\. 686, first_stage_model\. 248, cond_stage_model\.transformer\. 197/);
  assert.match(run.stdout, /check sd15-random-toy-fp16\.safetensors: every tensor equals the module's \(fp16-rounded\)/);
  assert.match(run.stdout, /check diffusers\/: every tensor equals the module's/);
});

test('single-file LDM checkpoint (fp32): prefixes, counts and LDM shapes', { skip }, () => {
  const f = readHeader(join(dir, 'sd15-random-toy.safetensors'));
  assert.deepEqual(f.metadata, { format: 'pt' });
  // Toy widths [32, 64, 64, 64] (VAE [32, 32, 64, 64]): where a block keeps its width there is no shortcut
  // conv, hence 684 and 244 instead of the full model's 686 and 248; CLIP has 2 layers (16 each + 5).
  assert.deepEqual(countByPrefix(f), { [UNET]: 684, [VAE]: 244, [CLIP]: 37, other: 12 });
  const shapes: Record<string, number[]> = {
    [`${UNET}time_embed.0.weight`]: [128, 32],
    [`${UNET}time_embed.2.weight`]: [128, 128],
    [`${UNET}input_blocks.0.0.weight`]: [32, 4, 3, 3],
    [`${UNET}input_blocks.1.0.in_layers.0.weight`]: [32],
    [`${UNET}input_blocks.1.0.in_layers.2.weight`]: [32, 32, 3, 3],
    [`${UNET}input_blocks.1.0.emb_layers.1.weight`]: [32, 128],
    [`${UNET}input_blocks.1.0.out_layers.3.weight`]: [32, 32, 3, 3],
    [`${UNET}input_blocks.1.1.proj_in.weight`]: [32, 32, 1, 1],
    [`${UNET}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight`]: [32, 64],
    [`${UNET}input_blocks.3.0.op.weight`]: [32, 32, 3, 3],
    [`${UNET}input_blocks.4.0.skip_connection.weight`]: [64, 32, 1, 1],
    [`${UNET}middle_block.1.proj_out.weight`]: [64, 64, 1, 1],
    [`${UNET}output_blocks.2.1.conv.weight`]: [64, 64, 3, 3],
    [`${UNET}output_blocks.5.2.conv.weight`]: [64, 64, 3, 3],
    [`${UNET}output_blocks.11.0.skip_connection.weight`]: [32, 64, 1, 1],
    [`${UNET}out.0.weight`]: [32],
    [`${UNET}out.2.weight`]: [4, 32, 3, 3],
    [`${VAE}encoder.mid.attn_1.q.weight`]: [64, 64, 1, 1],
    [`${VAE}decoder.mid.attn_1.proj_out.weight`]: [64, 64, 1, 1],
    [`${VAE}encoder.norm_out.weight`]: [64],
    [`${VAE}encoder.down.2.block.0.nin_shortcut.weight`]: [64, 32, 1, 1],
    [`${VAE}decoder.up.3.upsample.conv.weight`]: [64, 64, 3, 3],
    [`${VAE}decoder.up.1.block.0.nin_shortcut.weight`]: [32, 64, 1, 1],
    [`${VAE}quant_conv.weight`]: [8, 8, 1, 1],
    [`${VAE}post_quant_conv.weight`]: [4, 4, 1, 1],
    [`${CLIP}text_model.embeddings.token_embedding.weight`]: [49408, 64],
    [`${CLIP}text_model.embeddings.position_ids`]: [1, 77],
    [`${CLIP}text_model.final_layer_norm.weight`]: [64],
    alphas_cumprod: [1000],
  };
  for (const [name, shape] of Object.entries(shapes)) assert.deepEqual(f.tensors.get(name)?.shape, shape, name);
  for (const [name, t] of f.tensors) assert.equal(t.dtype, name.endsWith('position_ids') ? 'I64' : 'F32', name);
  // No diffusers names leak into the LDM layout.
  for (const name of f.tensors.keys()) assert.doesNotMatch(name, /down_blocks|up_blocks|mid_block|resnets|attentions\.|attn_1\.to_|conv_shortcut|time_embedding|conv_norm_out/, name);
  const ids = bytesOf(f, `${CLIP}text_model.embeddings.position_ids`);
  assert.deepEqual(Array.from({ length: 77 }, (_, i) => Number(ids.readBigInt64LE(8 * i))), Array.from({ length: 77 }, (_, i) => i));
});

test('single-file LDM checkpoint (fp16): same keys and shapes, floating tensors F16, position_ids I64', { skip }, () => {
  const f32 = readHeader(join(dir, 'sd15-random-toy.safetensors'));
  const f16 = readHeader(join(dir, 'sd15-random-toy-fp16.safetensors'));
  assert.deepEqual(f16.metadata, { format: 'pt' });
  assert.deepEqual([...f16.tensors.keys()].sort(), [...f32.tensors.keys()].sort());
  for (const [name, t] of f16.tensors) {
    assert.deepEqual(t.shape, f32.tensors.get(name)?.shape, name);
    assert.equal(t.dtype, name.endsWith('position_ids') ? 'I64' : 'F16', name);
  }
  // fp16 rounding of a few values, decoded here from the raw bytes.
  const w32 = bytesOf(f32, `${UNET}input_blocks.0.0.weight`);
  const w16 = bytesOf(f16, `${UNET}input_blocks.0.0.weight`);
  for (let i = 0; i < 16; i++) {
    const x = w32.readFloatLE(4 * i);
    const h = halfToFloat(w16.readUInt16LE(2 * i));
    assert.ok(Math.abs(h - x) <= Math.abs(x) * 2 ** -11 + 2 ** -24, `element ${i}: fp16 ${h} vs fp32 ${x}`);
  }
});

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

test('diffusers folder: the same tensors under diffusers names, VAE attention as Linear', { skip }, () => {
  const d = join(dir, 'diffusers');
  const index = JSON.parse(readFileSync(join(d, 'model_index.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(index._class_name, 'StableDiffusionPipeline');
  for (const sub of ['unet', 'vae', 'text_encoder', 'tokenizer', 'scheduler']) assert.ok(index[sub], `model_index.json lacks ${sub}`);
  for (const f of ['unet/config.json', 'vae/config.json', 'text_encoder/config.json', 'tokenizer/vocab.json', 'tokenizer/merges.txt', 'scheduler/scheduler_config.json']) {
    assert.ok(existsSync(join(d, f)), f);
  }
  const ldm = readHeader(join(dir, 'sd15-random-toy.safetensors'));
  const unet = readHeader(join(d, 'unet', 'diffusion_pytorch_model.safetensors'));
  const vae = readHeader(join(d, 'vae', 'diffusion_pytorch_model.safetensors'));
  const text = readHeader(join(d, 'text_encoder', 'model.safetensors'));
  for (const f of [unet, vae, text]) {
    assert.deepEqual(f.metadata, { format: 'pt' });
    for (const [name, t] of f.tensors) assert.equal(t.dtype, name.endsWith('position_ids') ? 'I64' : 'F32', name);
  }
  assert.equal(unet.tensors.size, 684);
  assert.equal(vae.tensors.size, 244);
  assert.equal(text.tensors.size, 37);
  assert.deepEqual(unet.tensors.get('conv_in.weight')?.shape, [32, 4, 3, 3]);
  assert.deepEqual(unet.tensors.get('down_blocks.0.attentions.0.proj_in.weight')?.shape, [32, 32, 1, 1]);
  assert.deepEqual(vae.tensors.get('encoder.mid_block.attentions.0.to_q.weight')?.shape, [64, 64]);
  assert.deepEqual(vae.tensors.get('decoder.mid_block.attentions.0.to_out.0.weight')?.shape, [64, 64]);
  assert.deepEqual(text.tensors.get('text_model.embeddings.position_ids')?.shape, [1, 77]);
  // Same number of weights per component, and the same bytes for renamed (and reshaped) tensors.
  assert.equal(elements(unet), elements(ldm, UNET));
  assert.equal(elements(vae), elements(ldm, VAE));
  assert.equal(elements(text), elements(ldm, CLIP));
  const pairs: [Safetensors, string, string][] = [
    [unet, 'conv_in.weight', `${UNET}input_blocks.0.0.weight`],
    [unet, 'time_embedding.linear_1.weight', `${UNET}time_embed.0.weight`],
    [unet, 'down_blocks.1.resnets.0.conv_shortcut.weight', `${UNET}input_blocks.4.0.skip_connection.weight`],
    [unet, 'up_blocks.0.upsamplers.0.conv.weight', `${UNET}output_blocks.2.1.conv.weight`],
    [unet, 'up_blocks.1.upsamplers.0.conv.weight', `${UNET}output_blocks.5.2.conv.weight`],
    [unet, 'mid_block.resnets.1.time_emb_proj.weight', `${UNET}middle_block.2.emb_layers.1.weight`],
    [vae, 'encoder.mid_block.attentions.0.to_q.weight', `${VAE}encoder.mid.attn_1.q.weight`],
    [vae, 'decoder.up_blocks.0.upsamplers.0.conv.weight', `${VAE}decoder.up.3.upsample.conv.weight`],
    [vae, 'decoder.up_blocks.2.resnets.0.conv_shortcut.weight', `${VAE}decoder.up.1.block.0.nin_shortcut.weight`],
    [text, 'text_model.encoder.layers.1.self_attn.q_proj.weight', `${CLIP}text_model.encoder.layers.1.self_attn.q_proj.weight`],
  ];
  for (const [f, name, ldmName] of pairs) assert.ok(bytesOf(f, name).equals(bytesOf(ldm, ldmName)), `${name} vs ${ldmName}`);
});
