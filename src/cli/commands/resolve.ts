// `imgprompt resolve`: prints a scene's canonical recipe as JSON (defaults filled, size resolved on the
// model's grid, absolute paths) with its hash, and the recipes of its variants.
import { analyzeScene, escapeTerminalJson, escapeTerminalText, formatDiagnostic, InputError, READ_CAPS, readTextBounded, recipeHash } from '../../engine/index';
import { UsageError, type Command } from '../command';
import { displayPath, sceneContext, takeSceneOptions } from '../sceneContext';

const usage = `usage: imgprompt resolve [options] FILE

Prints the scene's resolved recipe as JSON: every default filled from the model's configuration,
width and height on the model's grid, paths absolute, and "hash", the sha256 of the recipe's
pixel-affecting fields and the engine version (rendering adds the content hashes of model, LoRA and
image files). Warnings go to stderr; errors are printed as file:line:col and exit 1.

options:
  --model-path DIR   a folder of model folders, searched for bare model names (repeatable; also
                     IMGPROMPT_MODEL_PATH). The built-in models/ folder is searched last.`;

export const resolveCommand: Command = {
  name: 'resolve',
  summary: 'print the resolved recipe of a scene as JSON, with width, height and hash',
  usage,
  async run(args, io) {
    const { modelPaths, rest } = takeSceneOptions(args, io.cwd);
    const unknown = rest.find((a) => a.startsWith('-'));
    if (unknown) throw new UsageError(`unknown option '${unknown}'`);
    if (rest.length !== 1) throw new UsageError(`name exactly one scene file (got ${rest.length})`);
    const context = sceneContext(rest[0], modelPaths, io.cwd, io.env);
    let text: string;
    try {
      const read = readTextBounded(context.file, READ_CAPS.scene);
      if (read === undefined) throw new Error('no such file');
      text = read;
    } catch (error) {
      throw new InputError(`cannot read scene: ${error instanceof Error ? error.message : String(error)}`, context.file);
    }
    const analysis = analyzeScene(text, context);
    const shown = displayPath(context.file, io.cwd);
    for (const d of analysis.diagnostics) io.stderr(`${escapeTerminalText(formatDiagnostic(shown, d))}\n`);
    if (!analysis.resolved) return 1;
    const { recipe, variants } = analysis.resolved;
    const result = {
      hash: recipeHash(recipe),
      ...recipe,
      variants: variants.map((v) => ({ seed: v.seed, output: v.output, hash: recipeHash(v) })),
    };
    io.stdout(`${escapeTerminalJson(JSON.stringify(result, null, 2))}\n`);
    return 0;
  },
};
