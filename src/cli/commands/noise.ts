// `imgprompt noise`: prints the initial noise a seed gives, to check seed compatibility with PyTorch
// (ComfyUI, diffusers and AUTOMATIC1111 with a CPU generator).
import { UsageError, type Command } from '../command';
import { PhiloxGenerator, TorchCPUGenerator, type RNG } from '../../engine/rng';

const usage = `usage: imgprompt noise --seed S --shape A,B,C,D [--rng cpu|nv]

Prints, as JSON, the float32 noise a seed gives: { "rng", "seed", "shape", "data" } with data in
row-major order, each value printed exactly (every float32 is a double with a short decimal form).

options:
  --seed S          integer in [-2^63, 2^64 - 1] (negative seeds wrap as in torch)
  --shape A,B,...   comma-separated dimensions, e.g. 1,4,64,64 for one 512x512 SD latent
  --rng cpu         torch.randn(shape, generator=torch.Generator().manual_seed(S)) on the CPU (default;
                    diffusers / ComfyUI with a CPU generator)
  --rng nv          AUTOMATIC1111's "NV" source, its CPU imitation of torch.randn on CUDA`;

const RNGS: Record<string, (seed: string) => RNG> = {
  cpu: (seed) => new TorchCPUGenerator(seed),
  nv: (seed) => new PhiloxGenerator(seed),
};

function parseArgs(args: string[]): { seed: string; shape: number[]; rng: string } {
  let seed: string | undefined;
  let shapeText: string | undefined;
  let rng = 'cpu';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag !== '--seed' && flag !== '--shape' && flag !== '--rng') throw new UsageError(`unknown option '${arg}'; expected --seed, --shape or --rng`);
    const value = inline ?? args[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    if (flag === '--seed') seed = value;
    else if (flag === '--shape') shapeText = value;
    else if (Object.hasOwn(RNGS, value)) rng = value;
    else throw new UsageError(`--rng '${value}' is not one of ${Object.keys(RNGS).join(', ')}`);
  }
  if (seed === undefined) throw new UsageError('--seed is required');
  if (shapeText === undefined) throw new UsageError('--shape is required');
  const shape = shapeText.split(',').map((part) => {
    const trimmed = part.trim();
    if (!/^\d+$/.test(trimmed) || Number(trimmed) === 0) {
      throw new UsageError(`--shape '${shapeText}' has dimension '${part}'; dimensions are positive integers`);
    }
    return Number(trimmed);
  });
  return { seed, shape, rng };
}

export const noiseCommand: Command = {
  name: 'noise',
  summary: 'print the initial noise of a seed as JSON (torch.randn on the CPU, or A1111 NV)',
  usage,
  async run(args, io) {
    const options = parseArgs(args);
    const { shape } = options;
    const rng = RNGS[options.rng](options.seed);
    const data = rng.randn(shape);
    io.stdout(`${JSON.stringify({ rng: rng.name, seed: rng.seed.toString(), shape, data: Array.from(data) })}\n`);
    return 0;
  },
};
