// The layers the converters' graph builders share, written as opset-17 ONNX nodes over a GraphBuilder,
// with their weights read by diffusers name from a WeightSource (shape-checked, then streamed to the
// builder's external data one tensor at a time): 2-D convolution, linear layers, GroupNorm, SiLU, the
// ResNet block of diffusers' ResnetBlock2D, nearest 2× upsampling.
//
// Conventions, as torch's exporter writes the same modules:
// - Conv weights stay in torch's layout [out, in, kh, kw] under their parameter names; a float16 source's
//   stay float16, Cast to float32 in the graph (the converted folder is then ~30% smaller for an fp16
//   checkpoint, and converting it writes that much less).
// - Linear weights feed MatMul(x, W) (then Add bias) under the parameter's name (`….to_q.weight`). A
//   float16 source that can say where the weight is (a safetensors range) keeps it in torch's own layout
//   [out, in], float16, followed by Cast to float32 and Transpose(perm [1, 0]): the bytes are the file's
//   as they are, so the converter copies nothing (or only references them through a hard link, see
//   ExternalDataWriter), and onnxruntime folds Cast and Transpose into the [in, out] float32 matrix when
//   it loads the graph (the optimized-graph cache keeps the folded result), so MatMul sees the same
//   values as ever. Every reader of MatMul weights (LoRA targets, int8 quantization, attention fusion,
//   config inference) follows Transpose and Cast back to the initializer and knows it is [out, in].
//   Other sources (fp32, bf16, no ranges) are stored transposed, [in, out], float16 ones behind a Cast.
// - GroupNorm (no GroupNormalization before opset 18): Reshape [N, G, -1] → InstanceNormalization
//   (scale 1, bias 0, length G) → Reshape to the input's shape → Mul γ [C, 1, 1] → Add β [C, 1, 1].
// - SiLU: x · Sigmoid(x).
import type { GraphBuilder } from '../../onnx/graphBuilder';
import { ScratchFloats, transposeInto, transposeUint16Into } from './transposeMatrix';
import { checkedFloat16Range, checkedWeight, checkedWeightAsStored, type WeightSource } from './weightSource';

/** What the layer helpers write into and read from. */
export interface NnContext {
  readonly g: GraphBuilder;
  readonly weights: WeightSource;
  readonly signal?: AbortSignal;
  /** Shared small constants (InstanceNormalization's unit scale and zero bias per group count, axes, shapes). */
  readonly constants: Map<string, string>;
  /** The transposed linear weight's buffer, reused layer after layer. */
  readonly scratch: ScratchFloats;
}

export function nnContext(g: GraphBuilder, weights: WeightSource, signal?: AbortSignal): NnContext {
  return { g, weights, signal, constants: new Map(), scratch: new ScratchFloats() };
}

/** One shared int64 vector constant per value list. */
export function intsConst(ctx: NnContext, values: readonly number[]): string {
  const key = `ints:${values.join(',')}`;
  let name = ctx.constants.get(key);
  if (!name) ctx.constants.set(key, (name = ctx.g.ints(values)));
  return name;
}

/** One shared float32 constant of `length` copies of `value`, shaped [length]. */
function filledConst(ctx: NnContext, value: number, length: number): string {
  const key = `fill:${value}:${length}`;
  let name = ctx.constants.get(key);
  if (!name) ctx.constants.set(key, (name = ctx.g.constant(new Float32Array(length).fill(value), [length], 'fill')));
  return name;
}

/** One shared float scalar constant. */
export function scalarConst(ctx: NnContext, value: number): string {
  const key = `scalar:${value}`;
  let name = ctx.constants.get(key);
  if (!name) ctx.constants.set(key, (name = ctx.g.scalar(value)));
  return name;
}

/** Reads `name` (checked against `dims`) and stores it as an initializer of that name and shape. */
export async function storedWeight(ctx: NnContext, name: string, dims: readonly number[]): Promise<string> {
  const values = await checkedWeight(ctx.weights, name, dims, ctx.signal);
  return ctx.g.weight(name, values, dims);
}

export interface Conv2dOptions {
  readonly stride?: number;
  /** ONNX order [top, left, bottom, right]; default (kernel - 1) / 2 on every side ("same" for odd kernels). */
  readonly pads?: readonly [number, number, number, number];
  readonly bias?: boolean;
}

/** torch's Conv2d `prefix` (`prefix.weight` [cout, cin, k, k], `prefix.bias` [cout]) on x [N, cin, H, W]. */
export async function conv2d(ctx: NnContext, x: string, prefix: string, cin: number, cout: number, kernel: number, options: Conv2dOptions = {}): Promise<string> {
  const p = (kernel - 1) / 2;
  const pads = options.pads ?? [p, p, p, p];
  const stride = options.stride ?? 1;
  // Conv weights stored as float16 stay float16 behind a Cast (half the bytes to write; the same values),
  // copied from the file as they are where the source can say where they are.
  const name = `${prefix}.weight`;
  const dims = [cout, cin, kernel, kernel];
  const range = checkedFloat16Range(ctx.weights, name, dims);
  let weight: string;
  if (range) {
    weight = ctx.g.weightFloat16Range(name, range, dims);
  } else {
    const w = await checkedWeightAsStored(ctx.weights, name, dims, ctx.signal);
    weight = w instanceof Uint16Array ? ctx.g.weightFloat16(name, w, dims) : ctx.g.weight(name, w, dims);
  }
  const inputs = [x, weight];
  if (options.bias ?? true) inputs.push(await storedWeight(ctx, `${prefix}.bias`, [cout]));
  return ctx.g.node('Conv', inputs, {
    kernel_shape: [kernel, kernel],
    strides: [stride, stride],
    pads: [...pads],
    dilations: [1, 1],
    group: 1,
  });
}

/** torch's Linear `prefix` (`prefix.weight` [cout, cin], `prefix.bias` [cout]) on x [..., cin]: MatMul(x, Wᵀ) + b. */
export async function linear(ctx: NnContext, x: string, prefix: string, cin: number, cout: number, bias = true): Promise<string> {
  const name = `${prefix}.weight`;
  const range = checkedFloat16Range(ctx.weights, name, [cout, cin]);
  let wt: string;
  if (range) {
    // torch's layout as stored; onnxruntime folds the Cast and the Transpose at load.
    wt = ctx.g.node('Transpose', [ctx.g.weightFloat16Range(name, range, [cout, cin])], { perm: [1, 0] });
  } else {
    // Transposed into the shared scratch buffer (g.weight writes it out, or copies it, before the next layer
    // takes the buffer again); a float16 source's stays float16 behind a Cast, as conv weights do.
    const w = await checkedWeightAsStored(ctx.weights, name, [cout, cin], ctx.signal, ctx.scratch.readBuffer(cout * cin));
    wt =
      w instanceof Uint16Array
        ? ctx.g.weightFloat16(name, transposeUint16Into(w, cout, cin, await ctx.scratch.takeHalves(w.length, ctx.g)), [cin, cout])
        : ctx.g.weight(name, transposeInto(w, cout, cin, await ctx.scratch.take(w.length, ctx.g)), [cin, cout]);
  }
  const y = ctx.g.node('MatMul', [x, wt]);
  return bias ? ctx.g.node('Add', [y, await storedWeight(ctx, `${prefix}.bias`, [cout])]) : y;
}

/** x · Sigmoid(x). */
export function silu(ctx: NnContext, x: string): string {
  return ctx.g.node('Mul', [x, ctx.g.node('Sigmoid', [x])]);
}

/** torch's GroupNorm `prefix` (affine, `prefix.weight` / `prefix.bias` [C]) on x [N, C, ...]. */
export async function groupNorm(ctx: NnContext, x: string, prefix: string, channels: number, groups: number, eps: number): Promise<string> {
  if (channels % groups !== 0) throw new RangeError(`GroupNorm ${prefix}: ${channels} channels do not split into ${groups} groups`);
  const { g } = ctx;
  const grouped = g.node('Reshape', [x, intsConst(ctx, [0, groups, -1])]);
  const normed = g.node('InstanceNormalization', [grouped, filledConst(ctx, 1, groups), filledConst(ctx, 0, groups)], { epsilon: { float: eps } });
  const back = g.node('Reshape', [normed, g.node('Shape', [x])]);
  const gamma = g.weight(`${prefix}.weight`, await checkedWeight(ctx.weights, `${prefix}.weight`, [channels], ctx.signal), [channels, 1, 1]);
  const beta = g.weight(`${prefix}.bias`, await checkedWeight(ctx.weights, `${prefix}.bias`, [channels], ctx.signal), [channels, 1, 1]);
  return g.node('Add', [g.node('Mul', [back, gamma]), beta]);
}

export interface ResnetOptions {
  readonly groups: number;
  readonly eps: number;
  /** SiLU(time embedding) [N, width], shared by the blocks; the block adds time_emb_proj of it (UNet). */
  readonly temb?: { readonly value: string; readonly channels: number };
}

/**
 * diffusers' ResnetBlock2D `prefix` (default time-embedding norm, output scale 1):
 * conv1(SiLU(norm1(x))) [+ time_emb_proj(temb)] → conv2(SiLU(norm2(·))), plus x or conv_shortcut(x)
 * (1×1, present when the widths differ).
 */
export async function resnetBlock(ctx: NnContext, x: string, prefix: string, cin: number, cout: number, options: ResnetOptions): Promise<string> {
  const { g } = ctx;
  let h = await conv2d(ctx, silu(ctx, await groupNorm(ctx, x, `${prefix}.norm1`, cin, options.groups, options.eps)), `${prefix}.conv1`, cin, cout, 3);
  if (options.temb) {
    const t = await linear(ctx, options.temb.value, `${prefix}.time_emb_proj`, options.temb.channels, cout);
    h = g.node('Add', [h, g.node('Unsqueeze', [t, intsConst(ctx, [2, 3])])]);
  }
  h = await conv2d(ctx, silu(ctx, await groupNorm(ctx, h, `${prefix}.norm2`, cout, options.groups, options.eps)), `${prefix}.conv2`, cout, cout, 3);
  const shortcut = cin !== cout || ctx.weights.has(`${prefix}.conv_shortcut.weight`) ? await conv2d(ctx, x, `${prefix}.conv_shortcut`, cin, cout, 1) : x;
  return g.node('Add', [shortcut, h]);
}

/** Nearest-neighbour 2× upsampling of x [N, C, H, W] (torch's F.interpolate(scale_factor=2, mode='nearest')). */
export function upsampleNearest2x(ctx: NnContext, x: string): string {
  const key = 'scales:1,1,2,2';
  let scales = ctx.constants.get(key);
  if (!scales) ctx.constants.set(key, (scales = ctx.g.constant(Float32Array.of(1, 1, 2, 2), [4], 'scales')));
  return ctx.g.node('Resize', [x, '', scales], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });
}

/** diffusers' Upsample2D with a convolution (`prefix.conv`, 3×3): nearest 2×, then the conv. */
export async function upsample2d(ctx: NnContext, x: string, prefix: string, channels: number): Promise<string> {
  return conv2d(ctx, upsampleNearest2x(ctx, x), `${prefix}.conv`, channels, channels, 3);
}
