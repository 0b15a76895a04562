// `imgprompt convert`: turns a Stable Diffusion 1.x / 2.x single-file checkpoint (.safetensors) into a model
// folder in the diffusers/optimum ONNX layout, which scenes then name in `model:`.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { convertCheckpoint, convertDiffusersFolder, escapeTerminalText } from '../../engine/index';
import { UsageError, type Command } from '../command';
import { displayPath } from '../sceneContext';

const usage = `usage: imgprompt convert CHECKPOINT.safetensors|DIFFUSERS_FOLDER --out DIR [--tokenizer DIR]

Converts a Stable Diffusion 1.x or 2.x single-file checkpoint (the LDM key layout Civitai, A1111 and
ComfyUI use; fp32, fp16 or bf16) into a model folder in the diffusers/optimum ONNX layout: configs inferred from
the tensor shapes (an A1111-style NAME.yaml beside the file may set the prediction type), graphs written
by imgprompt with the weights widened to float32 in external data. Pickle files (.ckpt) are refused.
A diffusers folder of safetensors (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/,
as Hugging Face hosts SD 1.x and 2.x) converts through the same graph builders with its own configs.

options:
  --out DIR         the model folder to create (must not exist)
  --tokenizer DIR   a CLIP tokenizer folder (vocab.json + merges.txt); default: tokenizer/ beside the
                    checkpoint, else OpenAI CLIP's vocabulary shipped in imgprompt's vocab/`;

export const convertCommand: Command = {
  name: 'convert',
  summary: 'convert an SD 1.x/2.x single-file checkpoint or a diffusers folder into an ONNX model folder',
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
    const source = resolve(io.cwd, file);
    const onProgress = (p: { component: string; done: number; total: number }) => {
      if (p.component !== 'done') io.stderr(`converting ${p.component} (${p.done + 1}/${p.total})\n`);
    };
    if (statSync(source, { throwIfNoEntry: false })?.isDirectory()) {
      const started = performance.now();
      await convertDiffusersFolder(source, { out, signal, onProgress });
      const shown = escapeTerminalText(displayPath(out, io.cwd));
      io.stdout(`${shown}: converted in ${((performance.now() - started) / 1000).toFixed(1)} s; name it in a scene as model: ${shown}\n`);
      return 0;
    }
    const result = await convertCheckpoint(source, {
      out,
      tokenizerDir: parsed.values.tokenizer === undefined ? undefined : resolve(io.cwd, parsed.values.tokenizer),
      env: io.env,
      signal,
      onProgress,
    });
    const shown = escapeTerminalText(displayPath(result.folder, io.cwd));
    io.stdout(`${shown}: converted in ${(result.milliseconds / 1000).toFixed(1)} s (${result.configs.prediction.type}, from ${result.configs.prediction.source}); name it in a scene as model: ${shown}\n`);
    return 0;
  },
};
