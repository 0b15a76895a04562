// `imgprompt import`: writes an .imgprompt scene from a PNG's generation metadata (ours, AUTOMATIC1111,
// ComfyUI or InvokeAI), keeping what does not map as comments. Never overwrites without --force.
import { parseArgs } from 'node:util';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { InputError } from '../../engine/errors';
import { readImageMetadataFile } from '../../engine/interop/readImageMetadata';
import { sceneFromMetadata } from '../../engine/interop/sceneFromMetadata';
import { writeFileAtomic } from '../../engine/output/writeFileAtomic';
import { escapeTerminalText } from '../../engine/text/terminalText';
import { UsageError, type Command } from '../command';

const usage = `usage: imgprompt import PNG [-o FILE] [--force]

Writes an .imgprompt scene from the generation metadata in PNG (imgprompt's own recipe, AUTOMATIC1111's
"parameters", ComfyUI's graph or InvokeAI's metadata). Values that map to scene keys become keys;
everything else is kept as comments (e.g. "# comfyui: ckpt_name v1-5-pruned-emaonly.safetensors").

options:
  -o, --output FILE   where to write the scene (default: beside the PNG, same name, .imgprompt);
                      "-" prints it instead
  --force             overwrite an existing scene file`;

export const importCommand: Command = {
  name: 'import',
  summary: 'write an .imgprompt scene from a PNG made by imgprompt, A1111, ComfyUI or InvokeAI',
  usage,
  async run(args, io, signal) {
    let parsed;
    try {
      parsed = parseArgs({
        args,
        options: { output: { type: 'string', short: 'o' }, force: { type: 'boolean' } },
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    const [png, ...extra] = parsed.positionals;
    if (!png) throw new UsageError('name the PNG to import');
    if (extra.length) throw new UsageError(`import reads one PNG at a time; got ${parsed.positionals.length}`);

    const pngPath = resolve(io.cwd, png);
    const output = parsed.values.output;
    const target = output === '-' ? undefined : resolve(io.cwd, output ?? join(dirname(pngPath), `${basename(pngPath, extname(pngPath))}.imgprompt`));
    const report = await readImageMetadataFile(pngPath);
    if (!report.metadata) {
      const keys = report.text.map((t) => escapeTerminalText(t.keyword));
      throw new InputError(`no generation metadata to import${keys.length ? ` (text chunks: ${keys.join(', ')})` : ''}`, png);
    }
    const text = sceneFromMetadata(report.metadata, { sourceFile: basename(pngPath), sceneDir: target ? dirname(target) : io.cwd });
    if (!target) {
      // Exact when piped (it may be redirected into a scene file); escaped when a terminal would obey it.
      io.stdout(io.isTTY ? escapeTerminalText(text, { multiline: true }) : text);
      return 0;
    }
    await writeFileAtomic(target, text, { overwrite: parsed.values.force === true, signal });
    io.stdout(`wrote ${escapeTerminalText(target)} (from ${report.metadata.source} metadata)\n`);
    return 0;
  },
};
