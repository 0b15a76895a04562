// `imgprompt check`: validates scenes (syntax, keys, values, referenced files, model, size) and prints
// every problem as `file:line:col: severity: message`, one line each, with control characters from the
// scene (keys, values, file names) shown as escapes (escapeTerminalText). Exit 1 when any scene has an error.
import { readFileSync } from 'node:fs';
import { analyzeScene, formatDiagnostic, licenceDiagnostics, type SceneDiagnostic } from '../../engine/index';
import { escapeTerminalJson, escapeTerminalText } from '../../engine/text/terminalText';
import type { Command } from '../command';
import { displayPath, sceneContext, takeSceneOptions } from '../sceneContext';
import { expandSceneTargets, takeFlagsAndTargets } from '../sceneTargets';
import { DISCLOSURE_USAGE, reportFigureReferences, takeDisclosureOptions } from '../disclosureOptions';

const usage = `usage: imgprompt check [options] FILE|DIR...

Checks .imgprompt scenes without rendering: YAML syntax, keys, value types and ranges, referenced files
(model folder, LoRAs, hint and init images), the model's configs and the resolved size. Folders are
searched recursively for *.imgprompt. Prints file:line:col: error|warning: message; exits 1 if any
scene has an error, 0 when there are only warnings.

options:
  --model-path DIR   a folder of model folders, searched for bare model names (repeatable; also
                     IMGPROMPT_MODEL_PATH). The built-in models/ folder is searched last.
  --json             print {files: [{file, diagnostics}], errors, warnings} as JSON instead
${DISCLOSURE_USAGE}`;

function whole(): SceneDiagnostic['range'] {
  return { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
}

export const checkCommand: Command = {
  name: 'check',
  summary: 'validate scenes and print every problem as file:line:col',
  usage,
  async run(args, io) {
    const disclosure = takeDisclosureOptions(args);
    const { modelPaths, rest } = takeSceneOptions(disclosure.rest, io.cwd);
    const { flags, targets } = takeFlagsAndTargets(rest, ['--json']);
    const json = flags.has('--json');

    const results: { file: string; diagnostics: SceneDiagnostic[] }[] = [];
    const expanded = expandSceneTargets(targets, io.cwd);
    for (const problem of expanded.problems) {
      results.push({ file: problem.target, diagnostics: [{ severity: 'error', code: 'missing-file', message: problem.message, range: whole() }] });
    }
    {
      const files = expanded.files;
      for (const file of files) {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (error) {
          const message = `cannot read: ${error instanceof Error ? error.message : String(error)}`;
          results.push({ file, diagnostics: [{ severity: 'error', code: 'missing-file', message, range: whole() }] });
          continue;
        }
        const context = sceneContext(file, modelPaths, io.cwd, io.env);
        const { diagnostics, checked, resolved } = analyzeScene(text, context);
        if (disclosure.options.requirePurpose && checked.scene.purpose === undefined) {
          diagnostics.push({ severity: 'warning', code: 'missing-purpose', message: 'the scene has no purpose: line (why the figure exists); the project requires one', range: whole() });
        }
        results.push({ file, diagnostics: resolved ? [...diagnostics, ...(await licenceDiagnostics(resolved, context.projectRoot))] : diagnostics });
      }
    }

    const uses = json ? await reportFigureReferences(disclosure.options, io.cwd, { ...io, stdout: () => undefined }) : await reportFigureReferences(disclosure.options, io.cwd, io);
    const all = results.flatMap((r) => r.diagnostics);
    const errors = all.filter((d) => d.severity === 'error').length + uses.errors;
    const warnings = all.filter((d) => d.severity === 'warning').length + uses.warnings;
    if (json) {
      const files = results.map((r) => ({ file: displayPath(r.file, io.cwd), diagnostics: r.diagnostics }));
      const figureReferences = uses.problems.map((p) => ({ ...p, document: displayPath(p.document, io.cwd) }));
      io.stdout(`${escapeTerminalJson(JSON.stringify({ files, figureReferences, errors, warnings }, null, 2))}\n`);
    } else {
      for (const r of results) for (const d of r.diagnostics) io.stdout(`${escapeTerminalText(formatDiagnostic(displayPath(r.file, io.cwd), d))}\n`);
      const scenes = results.length === 1 ? '1 scene' : `${results.length} scenes`;
      io.stderr(`checked ${scenes}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`);
    }
    return errors > 0 ? 1 : 0;
  },
};
