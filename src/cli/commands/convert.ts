// `imgprompt convert`: turns a Stable Diffusion 1.x single-file checkpoint (.safetensors) into a model
// folder in the diffusers/optimum ONNX layout, which scenes then name in `model:`.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { convertCheckpoint, escapeTerminalText } from '../../engine/index';
import { UsageError, type Command } from '../command';
import { displayPath } from '../sceneContext';

const usage = `usage: imgprompt convert CHECKPOINT.safetensors --out DIR [--tokenizer DIR]

Converts a Stable Diffusion 1.x single-file checkpoint (the LDM key layout Civitai, A1111 and ComfyUI
use; fp32, fp16 or bf16) into a model folder in the diffusers/optimum ONNX layout: configs inferred from
the tensor shapes (an A1111-style NAME.yaml beside the file may set the prediction type), graphs written
by imgprompt with the weights widened to float32 in external data. Pickle files (.ckpt) are refused.

options:
  --out DIR         the model folder to create (must not exist)
  --tokenizer DIR   a CLIP tokenizer folder (vocab.json + merges.txt); default: tokenizer/ beside the
                    checkpoint, else CLIP ViT-L/14's from the Hugging Face cache`;

export const convertCommand: Command = {
  name: 'convert',
  summary: 'convert an SD 1.x single-file checkpoint into an ONNX model folder',
  usage,
  async run(args, io, signal) {
    let parsed;
    try {
      parsed = parseArgs({ args, allowPositionals: true, options: { out: { type: 'string' }, tokenizer: { type: 'string' } } });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const [file, ...extra] = parsed.positionals;
    if (!file || extra.length > 0) throw new UsageError('name exactly one checkpoint file');
    if (!parsed.values.out) throw new UsageError('--out DIR is required: the model folder to create');
    const out = resolve(io.cwd, parsed.values.out);
    const result = await convertCheckpoint(resolve(io.cwd, file), {
      out,
      tokenizerDir: parsed.values.tokenizer === undefined ? undefined : resolve(io.cwd, parsed.values.tokenizer),
      env: io.env,
      signal,
      onProgress: (p) => {
        if (p.component !== 'done') io.stderr(`converting ${p.component} (${p.done + 1}/${p.total})\n`);
      },
    });
    const shown = escapeTerminalText(displayPath(result.folder, io.cwd));
    io.stdout(`${shown}: converted in ${(result.milliseconds / 1000).toFixed(1)} s (${result.configs.prediction.type}, from ${result.configs.prediction.source}); name it in a scene as model: ${shown}\n`);
    return 0;
  },
};
