// The random-weight Stable Diffusion 1.5 model folder that the scale test and `npm run bench:scale` use:
// where it lives, generating it on demand (tools/sd15_random/make_model.sh), and the UNet's FLOPs per
// call counted from its config.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '..', '..');

export type Scale = 'full' | 'toy';

/** IMGPROMPT_SCALE: `full` (default, SD 1.5's size, ~4.3 GB) or `toy` (same structure, ~35 MB). */
export function scaleFromEnv(): Scale {
  const value = process.env.IMGPROMPT_SCALE ?? 'full';
  if (value !== 'full' && value !== 'toy') throw new Error(`IMGPROMPT_SCALE is '${value}'; expected full or toy`);
  return value;
}

/** The cache folder make_model.py writes by default: ${XDG_CACHE_HOME:-~/.cache}/imgprompt/sd15-random[-toy]. */
export function sd15RandomDir(scale: Scale): string {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'imgprompt', scale === 'full' ? 'sd15-random' : `sd15-random-${scale}`);
}

/** What random_weights.json records about a generated folder. */
/** tools/sd15_random/make_model.py's GENERATOR_VERSION: an older folder in the cache is made again. */
export const SD15_RANDOM_GENERATOR_VERSION = 2;

export interface RandomWeightsInfo {
  readonly scale: Scale;
  readonly seed: number;
  readonly generator_version: number;
  readonly parameters: Readonly<Record<string, number>>;
}

export function readRandomWeightsInfo(dir: string): RandomWeightsInfo | undefined {
  const path = join(dir, 'random_weights.json');
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as RandomWeightsInfo;
}

/**
 * The model folder for `scale`, generated first when absent (make_model.py renames the folder into place
 * only when complete, so random_weights.json marks a finished one). Returns the folder and how long
 * generation took (0 when it existed).
 */
export function ensureSd15Random(scale: Scale): { dir: string; generatedMs: number } {
  const dir = sd15RandomDir(scale);
  const info = readRandomWeightsInfo(dir);
  if (info?.scale === scale && info.generator_version >= SD15_RANDOM_GENERATOR_VERSION) return { dir, generatedMs: 0 };
  const start = performance.now();
  const result = spawnSync('sh', [join(repoRoot, 'tools', 'sd15_random', 'make_model.sh'), '--scale', scale, '--out', dir], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.status !== 0) throw new Error(`tools/sd15_random/make_model.sh --scale ${scale} failed (exit ${result.status ?? result.signal})`);
  if (readRandomWeightsInfo(dir)?.scale !== scale) throw new Error(`make_model.sh finished but ${dir} has no random_weights.json for scale ${scale}`);
  return { dir, generatedMs: performance.now() - start };
}

/** The fields of unet/config.json (diffusers' UNet2DConditionModel, SD 1.5 family) the count needs. */
export interface UNetShape {
  readonly block_out_channels: readonly number[];
  readonly layers_per_block: number;
  readonly cross_attention_dim: number;
  readonly down_block_types: readonly string[];
  readonly up_block_types: readonly string[];
  readonly in_channels: number;
  readonly out_channels: number;
  /** SDXL: transformer blocks per level (the mid block takes the last); 1 everywhere when absent. */
  readonly transformer_layers_per_block?: number | readonly number[];
  /** SDXL: add_embedding's input width (pooled text + time ids); absent without one. */
  readonly projection_class_embeddings_input_dim?: number;
}

/** SD 1.5's UNet config (runwayml/stable-diffusion-v1-5 unet/config.json), the fields unetFlops reads. */
export const SD15_UNET_SHAPE: UNetShape = {
  block_out_channels: [320, 640, 1280, 1280],
  layers_per_block: 2,
  cross_attention_dim: 768,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  in_channels: 4,
  out_channels: 4,
};

export interface FlopCount {
  readonly total: number;
  readonly conv: number;
  readonly linear: number;
  readonly attention: number;
}

/**
 * Floating-point operations of one UNet call (2 per multiply-add): every convolution and linear layer
 * (weights only: no biases, norms, activations or softmax) and the two attention matmuls (QKᵀ and
 * attention × V) of every self- and cross-attention. Latent `height` × `width`, `contextLength` text tokens.
 * Follows diffusers' UNet2DConditionModel with SD 1.5's blocks: 1x1-conv transformer projections, one
 * transformer block per attention, GEGLU feed-forward of 4× width, 3x3 stride-2 downsamplers and
 * nearest-upsample + 3x3 conv upsamplers, time embedding MLP of 4× the first block's width.
 */
export function unetFlops(c: UNetShape, height: number, width: number, batch: number, contextLength = 77): FlopCount {
  let conv = 0;
  let linear = 0;
  let attention = 0;
  const ch = c.block_out_channels;
  const temb = ch[0] * 4;
  const conv2d = (cin: number, cout: number, k: number, h: number, w: number) => (conv += 2 * batch * k * k * cin * cout * h * w);
  const dense = (cin: number, cout: number, tokens: number) => (linear += 2 * batch * cin * cout * tokens);
  const resnet = (cin: number, cout: number, h: number, w: number) => {
    conv2d(cin, cout, 3, h, w);
    dense(temb, cout, 1);
    conv2d(cout, cout, 3, h, w);
    if (cin !== cout) conv2d(cin, cout, 1, h, w);
  };
  const depthOf = (level: number) => {
    const d = c.transformer_layers_per_block;
    return d === undefined ? 1 : typeof d === 'number' ? d : d[level];
  };
  const transformer = (d: number, h: number, w: number, depth = 1) => {
    const n = h * w;
    conv2d(d, d, 1, h, w); // proj_in (a linear in SDXL: the same count)
    for (let b = 0; b < depth; b++) block(d, n);
    conv2d(d, d, 1, h, w); // proj_out
  };
  const block = (d: number, n: number) => {
    dense(d, d, n * 3); // attn1 q, k, v
    attention += 2 * (2 * batch * n * n * d);
    dense(d, d, n); // attn1 out
    dense(d, d, n); // attn2 q
    dense(c.cross_attention_dim, d, contextLength * 2); // attn2 k, v
    attention += 2 * (2 * batch * n * contextLength * d);
    dense(d, d, n); // attn2 out
    dense(d, 8 * d, n); // GEGLU proj (value and gate)
    dense(4 * d, d, n);
  };
  dense(ch[0], temb, 1);
  dense(temb, temb, 1);
  if (c.projection_class_embeddings_input_dim) {
    dense(c.projection_class_embeddings_input_dim, temb, 1); // SDXL add_embedding
    dense(temb, temb, 1);
  }
  let h = height;
  let w = width;
  conv2d(c.in_channels, ch[0], 3, h, w);
  const skips = [ch[0]];
  let cin = ch[0];
  ch.forEach((cout, i) => {
    for (let j = 0; j < c.layers_per_block; j++) {
      resnet(cin, cout, h, w);
      if (c.down_block_types[i].startsWith('CrossAttn')) transformer(cout, h, w, depthOf(i));
      cin = cout;
      skips.push(cout);
    }
    if (i < ch.length - 1) {
      h = Math.ceil(h / 2);
      w = Math.ceil(w / 2);
      conv2d(cout, cout, 3, h, w);
      skips.push(cout);
    }
  });
  resnet(cin, cin, h, w);
  transformer(cin, h, w, depthOf(ch.length - 1));
  resnet(cin, cin, h, w);
  [...ch].reverse().forEach((cout, i) => {
    for (let j = 0; j <= c.layers_per_block; j++) {
      resnet(cin + (skips.pop() as number), cout, h, w);
      if (c.up_block_types[i].startsWith('CrossAttn')) transformer(cout, h, w, depthOf(ch.length - 1 - i));
      cin = cout;
    }
    if (i < ch.length - 1) {
      h *= 2;
      w *= 2;
      conv2d(cout, cout, 3, h, w);
    }
  });
  conv2d(cin, c.out_channels, 3, h, w);
  return { total: conv + linear + attention, conv, linear, attention };
}

export function readUNetShape(modelDir: string): UNetShape {
  return JSON.parse(readFileSync(join(modelDir, 'unet', 'config.json'), 'utf8')) as UNetShape;
}

// Debian's interpreter, where python3-torch installs (tools/tiny_model/setup.sh).
export const PYTHON = process.env.IMGPROMPT_PYTHON ?? '/usr/bin/python3';
const TOOL_ENV = { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' };

/**
 * Why the seeded SD 1.5 reference cannot be generated here (no interpreter with torch, onnx and numpy,
 * or no make_checkpoints.py), or false when it can: the reason a test that needs it is skipped.
 */
export function sd15ReferenceUnavailable(): string | false {
  if (!existsSync(join(repoRoot, 'tools', 'sd15_random', 'make_checkpoints.py'))) return 'tools/sd15_random/make_checkpoints.py is absent';
  if (!existsSync(PYTHON)) return `${PYTHON} does not exist (set IMGPROMPT_PYTHON; see tools/tiny_model/setup.sh)`;
  const probe = spawnSync(PYTHON, ['-c', 'import torch, onnx, numpy'], { env: TOOL_ENV, encoding: 'utf8', timeout: 60_000 });
  if (probe.status !== 0) {
    const why = (probe.stderr || probe.error?.message || '').trim().split('\n').pop();
    return `${PYTHON} cannot import torch/onnx/numpy (${why}); run tools/tiny_model/setup.sh`;
  }
  return false;
}

/** Runs `python3 -m <module> <args>` from the repository root; asserts it succeeds. */
export function runPythonTool(module: string, args: readonly string[]): void {
  const result = spawnSync(PYTHON, ['-m', module, ...args], { cwd: repoRoot, env: TOOL_ENV, encoding: 'utf8', timeout: 300_000 });
  if (result.status !== 0) throw new Error(`${module} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
}

/** make_checkpoints.py's files (LDM single files fp32/fp16, diffusers/) for the ONNX folder `onnxDir`'s scale and seed, into `out`. */
export function makeSd15Checkpoints(onnxDir: string, out: string, extra: readonly string[] = []): void {
  const info = readRandomWeightsInfo(onnxDir);
  if (!info) throw new Error(`${onnxDir} has no random_weights.json`);
  runPythonTool('tools.sd15_random.make_checkpoints', ['--scale', info.scale, '--seed', String(info.seed), '--out', out, ...extra]);
}

/**
 * The toy ONNX folder and make_checkpoints.py's files of the same seed, both generated into the cache
 * when absent or made by an older generator (~1.5 min): the reference the checkpoint converter's tests read.
 */
export function ensureSd15Checkpoints(scale: Scale): { onnx: string; checkpoints: string } {
  const onnx = ensureSd15Random(scale).dir;
  const seed = readRandomWeightsInfo(onnx)!.seed;
  const checkpoints = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'imgprompt', `sd15-random-checkpoints${scale === 'full' ? '' : `-${scale}`}`);
  const stamp = join(checkpoints, 'checkpoints.json');
  const fits = () => {
    if (!existsSync(stamp)) return false;
    const made = JSON.parse(readFileSync(stamp, 'utf8')) as { seed: number; generator_version?: number };
    return made.seed === seed && (made.generator_version ?? 1) >= SD15_RANDOM_GENERATOR_VERSION;
  };
  if (!fits()) {
    makeSd15Checkpoints(onnx, checkpoints);
    if (!fits()) throw new Error(`make_checkpoints.py finished but ${stamp} does not record seed ${seed}`);
  }
  return { onnx, checkpoints };
}
