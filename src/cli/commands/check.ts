// `imgprompt check`: validates scenes (syntax, keys, values, referenced files, model, size) and prints
// every problem as `file:line:col: severity: message`. Exit 1 when any scene has an error.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { analyzeScene, formatDiagnostic, type SceneDiagnostic } from '../../engine/index';
import { UsageError, type Command } from '../command';
import { displayPath, sceneContext, takeSceneOptions } from '../sceneContext';

const usage = `usage: imgprompt check [options] FILE|DIR...

Checks .imgprompt scenes without rendering: YAML syntax, keys, value types and ranges, referenced files
(model folder, LoRAs, hint and init images), the model's configs and the resolved size. Folders are
searched recursively for *.imgprompt. Prints file:line:col: error|warning: message; exits 1 if any
scene has an error, 0 when there are only warnings.

options:
  --model-path DIR   a folder of model folders, searched for bare model names (repeatable; also
                     IMGPROMPT_MODEL_PATH). The built-in models/ folder is searched last.
  --json             print {files: [{file, diagnostics}], errors, warnings} as JSON instead`;

const SKIPPED_DIRS = new Set(['node_modules', 'out']);

/** Scene files under `dir`, sorted, skipping dependency, build and hidden folders. */
function scenesIn(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!entry.name.startsWith('.') && !SKIPPED_DIRS.has(entry.name)) found.push(...scenesIn(path));
    } else if (entry.isFile() && extname(entry.name) === '.imgprompt') found.push(path);
  }
  return found;
}

function whole(): SceneDiagnostic['range'] {
  return { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
}

export const checkCommand: Command = {
  name: 'check',
  summary: 'validate scenes and print every problem as file:line:col',
  usage,
  async run(args, io) {
    const { modelPaths, rest } = takeSceneOptions(args, io.cwd);
    const json = rest.includes('--json');
    const targets = rest.filter((a) => a !== '--json');
    const unknown = targets.find((a) => a.startsWith('-'));
    if (unknown) throw new UsageError(`unknown option '${unknown}'`);
    if (targets.length === 0) throw new UsageError('name at least one scene file or folder');

    const results: { file: string; diagnostics: SceneDiagnostic[] }[] = [];
    for (const target of targets) {
      const abs = resolve(io.cwd, target);
      let isDir = false;
      try {
        isDir = statSync(abs).isDirectory();
      } catch {
        results.push({ file: abs, diagnostics: [{ severity: 'error', code: 'missing-file', message: 'no such file or folder', range: whole() }] });
        continue;
      }
      const files = isDir ? scenesIn(abs) : [abs];
      if (isDir && files.length === 0) {
        results.push({ file: abs, diagnostics: [{ severity: 'error', code: 'missing-file', message: 'no .imgprompt files in this folder', range: whole() }] });
      }
      for (const file of files) {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (error) {
          const message = `cannot read: ${error instanceof Error ? error.message : String(error)}`;
          results.push({ file, diagnostics: [{ severity: 'error', code: 'missing-file', message, range: whole() }] });
          continue;
        }
        const { diagnostics } = analyzeScene(text, sceneContext(file, modelPaths, io.cwd, io.env));
        results.push({ file, diagnostics });
      }
    }

    const all = results.flatMap((r) => r.diagnostics);
    const errors = all.filter((d) => d.severity === 'error').length;
    const warnings = all.filter((d) => d.severity === 'warning').length;
    if (json) {
      const files = results.map((r) => ({ file: displayPath(r.file, io.cwd), diagnostics: r.diagnostics }));
      io.stdout(`${JSON.stringify({ files, errors, warnings }, null, 2)}\n`);
    } else {
      for (const r of results) for (const d of r.diagnostics) io.stdout(`${formatDiagnostic(displayPath(r.file, io.cwd), d)}\n`);
      const scenes = results.length === 1 ? '1 scene' : `${results.length} scenes`;
      io.stderr(`checked ${scenes}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`);
    }
    return errors > 0 ? 1 : 0;
  },
};
