// Checks the places a project uses its figures: every Markdown image and HTML <img> in the project's
// documents that shows a generated figure (a PNG whose metadata says so) must carry the AI disclosure
// in its alt text when the project requires it, and a figure whose recipe says `audience: team` must not
// be referenced from a file the project publishes.
import { readdirSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { InputError } from '../errors';
import { READ_CAPS, readFileBounded } from '../io/readBounded';
import { readImageMetadataFile, type ImageMetadataReport } from '../interop/readImageMetadata';
import { DEFAULT_DISCLOSURE_MARKER, hasDisclosure } from './disclosureText';
import { findHtmlImages, findMarkdownImages, localImagePath, type MarkdownImage } from './markdownImages';

export interface FigureReferenceOptions {
  readonly projectRoot: string;
  /** The Markdown and HTML files to read (absolute paths); findDocuments lists a project's. */
  readonly documents: readonly string[];
  /** Each reference to a generated figure needs the marker in its alt text (an error when missing). */
  readonly requireDisclosure?: boolean;
  readonly disclosureMarker?: string;
  /** Whether a document (project-relative POSIX path) is published; team figures referenced there are warned about. */
  readonly isPublished?: (relativePath: string) => boolean;
  /** Reads a PNG's metadata (default: readImageMetadataFile); undefined when it has none or cannot be read. */
  readonly readMetadata?: (png: string) => Promise<ImageMetadataReport | undefined>;
}

export interface FigureReferenceProblem {
  /** Absolute path of the document and the 1-based line and column of the reference. */
  readonly document: string;
  readonly line: number;
  readonly column: number;
  /** The image as the document writes it. */
  readonly target: string;
  /** Offset and length of the whole reference in the document's text. */
  readonly offset: number;
  readonly length: number;
  readonly severity: 'error' | 'warning';
  readonly code: 'figure-without-disclosure' | 'team-figure-published';
  readonly message: string;
}

const DOCUMENT_EXTENSIONS = new Set(['.md', '.markdown', '.html', '.htm']);
const SKIPPED_FOLDERS = new Set(['node_modules', 'out', 'dist']);
/** The most documents one check reads: a docs tree, not a whole disk. */
export const MAX_DOCUMENTS = 5000;

/** Markdown and HTML files under `root` (hidden folders, node_modules, out and dist skipped), sorted. */
export function findDocuments(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (found.length >= MAX_DOCUMENTS) return;
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_FOLDERS.has(entry.name)) walk(path);
      } else if (entry.isFile() && DOCUMENT_EXTENSIONS.has(extname(entry.name).toLowerCase())) found.push(path);
    }
  };
  walk(root);
  return found;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

async function defaultReadMetadata(png: string): Promise<ImageMetadataReport | undefined> {
  try {
    return await readImageMetadataFile(png);
  } catch (error) {
    if (error instanceof InputError) return undefined;
    throw error;
  }
}

/** Whether a PNG's metadata says it was generated (our recipe, or an XMP AI source type). */
function isGenerated(report: ImageMetadataReport): boolean {
  return report.recipe !== undefined || report.provenance.aiGenerated;
}

/** Options for one document's text (the editor checks unsaved buffers). */
export type DocumentCheckOptions = Omit<FigureReferenceOptions, 'documents' | 'isPublished' | 'projectRoot'> & { readonly published?: boolean };

/** The problems of one document, given its text; `cache` shares PNG reads across documents. */
export async function checkDocumentText(
  document: string,
  text: string,
  options: DocumentCheckOptions,
  cache: Map<string, Promise<ImageMetadataReport | undefined>> = new Map(),
): Promise<FigureReferenceProblem[]> {
  const read = options.readMetadata ?? defaultReadMetadata;
  const marker = options.disclosureMarker ?? DEFAULT_DISCLOSURE_MARKER;
  const problems: FigureReferenceProblem[] = [];
  const images: MarkdownImage[] = [...findMarkdownImages(text), ...findHtmlImages(text)].sort((a, b) => a.start - b.start);
  for (const image of images) {
    const png = localImagePath(image.rawTarget, document);
    if (!png || !/\.png$/i.test(png)) continue;
    if (!cache.has(png)) cache.set(png, read(png));
    const report = await cache.get(png);
    if (!report || !isGenerated(report)) continue;
    const at = lineColumn(text, image.start);
    const base = { document, ...at, target: image.rawTarget, offset: image.start, length: image.end - image.start };
    if (options.requireDisclosure && !hasDisclosure(image.alt, marker)) {
      problems.push({
        ...base,
        severity: 'error',
        code: 'figure-without-disclosure',
        message: `${image.rawTarget} is an AI-generated figure but its alt text ${image.alt ? `"${image.alt}"` : '(empty)'} does not say so: add "${marker}" (the project requires the disclosure)`,
      });
    }
    if (options.published && report.provenance.audience === 'team') {
      problems.push({
        ...base,
        severity: 'warning',
        code: 'team-figure-published',
        message: `${image.rawTarget} is a team figure (audience: team) referenced from a published file; keep it out of this document or set audience: public in its scene`,
      });
    }
  }
  return problems;
}

/** Every problem with how the documents use generated figures, in document order. */
export async function checkFigureReferences(options: FigureReferenceOptions): Promise<FigureReferenceProblem[]> {
  const cache = new Map<string, Promise<ImageMetadataReport | undefined>>();
  const problems: FigureReferenceProblem[] = [];
  for (const document of options.documents) {
    let text: string;
    try {
      text = (await readFileBounded(document, READ_CAPS.config, 'document')).toString('utf8');
    } catch {
      continue; // unreadable documents are not this check's to report
    }
    const rel = relative(options.projectRoot, document).split(sep).join('/');
    problems.push(...(await checkDocumentText(document, text, { ...options, published: options.isPublished?.(rel) ?? false }, cache)));
  }
  return problems;
}
