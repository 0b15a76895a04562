// The figure check Verify and Verify Workspace run over a workspace folder's documents: the same rules
// as `imgprompt verify --require-disclosure --published GLOB` (every Markdown/HTML image of a generated
// figure says "AI-generated" in its alt text; published documents reference no `audience: team` figure),
// driven by imgprompt.requireDisclosure and imgprompt.publishedFiles. Pure (no vscode), so unit-tested.
import { checkFigureReferences, findDocuments, globToRegExp, type FigureReferenceProblem, type ImageMetadataReport } from '../../engine/editor';

export interface FigureCheckSettings {
  readonly requireDisclosure: boolean;
  /** Globs relative to the folder (e.g. `docs/**`). */
  readonly publishedFiles: readonly string[];
}

/** Whether the settings ask for any figure check at all (otherwise nothing is read). */
export function figureCheckEnabled(settings: FigureCheckSettings): boolean {
  return settings.requireDisclosure || settings.publishedFiles.length > 0;
}

/** Every problem in the documents under `root`, in document order; none when the settings ask for no check. */
export async function checkWorkspaceFigures(root: string, settings: FigureCheckSettings, readMetadata?: (png: string) => Promise<ImageMetadataReport | undefined>): Promise<FigureReferenceProblem[]> {
  if (!figureCheckEnabled(settings)) return [];
  const patterns = settings.publishedFiles.map((g) => globToRegExp(g.trim().replace(/^\.\//, '')));
  return checkFigureReferences({
    projectRoot: root,
    documents: findDocuments(root),
    requireDisclosure: settings.requireDisclosure,
    isPublished: (rel) => patterns.some((p) => p.test(rel)),
    ...(readMetadata ? { readMetadata } : {}),
  });
}

/** One problem as a line of the Verify summary and log: `docs/a.md:3:1: error: message`. */
export function describeFigureProblem(problem: FigureReferenceProblem, relative: (path: string) => string): string {
  return `${relative(problem.document)}:${problem.line}:${problem.column}: ${problem.severity}: ${problem.message}`;
}
