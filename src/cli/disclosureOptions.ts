// The options check and verify share for how a project uses its figures: require the AI disclosure in
// the alt text of every reference to a generated figure, warn when published files (globs) reference
// `audience: team` figures, and warn about scenes without a `purpose:`.
import { checkFigureReferences, findDocuments, type FigureReferenceProblem } from '../engine/index';
import { escapeTerminalText } from '../engine/text/terminalText';
import { UsageError, type CliIO } from './command';
import { displayPath } from './sceneContext';
import { globToRegExp } from './sceneTargets';

export interface DisclosureOptions {
  readonly requireDisclosure: boolean;
  readonly disclosureMarker?: string;
  readonly published: readonly string[];
  readonly requirePurpose: boolean;
}

export const DISCLOSURE_USAGE = `  --require-disclosure   every Markdown image or HTML <img> in the documents under the working folder
                         that shows a generated figure must say "AI-generated" in its alt text (an error)
  --disclosure-marker T  the phrase --require-disclosure looks for (default: AI-generated)
  --published GLOB       documents matching GLOB (e.g. 'docs/**') are published: warn when they
                         reference a figure whose scene says audience: team (repeatable)
  --require-purpose      warn about scenes without a purpose: line`;

/** Takes the disclosure options out of `args`; the rest is returned for the command's own parsing. */
export function takeDisclosureOptions(args: readonly string[]): { options: DisclosureOptions; rest: string[] } {
  const rest: string[] = [];
  const published: string[] = [];
  let requireDisclosure = false;
  let requirePurpose = false;
  let disclosureMarker: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = (name: string): string => {
      if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
      const v = args[++i];
      if (v === undefined || v === '') throw new UsageError(`${name} needs a value`);
      return v;
    };
    if (arg === '--require-disclosure') requireDisclosure = true;
    else if (arg === '--require-purpose') requirePurpose = true;
    else if (arg === '--published' || arg.startsWith('--published=')) published.push(value('--published'));
    else if (arg === '--disclosure-marker' || arg.startsWith('--disclosure-marker=')) disclosureMarker = value('--disclosure-marker');
    else rest.push(arg);
  }
  return { options: { requireDisclosure, disclosureMarker, published, requirePurpose }, rest };
}

/** Checks the documents under `root` and prints each problem as file:line:col; returns the counts. */
export async function reportFigureReferences(options: DisclosureOptions, root: string, io: CliIO): Promise<{ errors: number; warnings: number; problems: FigureReferenceProblem[] }> {
  if (!options.requireDisclosure && options.published.length === 0) return { errors: 0, warnings: 0, problems: [] };
  const patterns = options.published.map((g) => globToRegExp(g.replace(/^\.\//, '')));
  const problems = await checkFigureReferences({
    projectRoot: root,
    documents: findDocuments(root),
    requireDisclosure: options.requireDisclosure,
    disclosureMarker: options.disclosureMarker,
    isPublished: (rel) => patterns.some((p) => p.test(rel)),
  });
  for (const p of problems) io.stdout(`${escapeTerminalText(`${displayPath(p.document, io.cwd)}:${p.line}:${p.column}: ${p.severity}: ${p.message}`)}\n`);
  const errors = problems.filter((p) => p.severity === 'error').length;
  return { errors, warnings: problems.length - errors, problems };
}
