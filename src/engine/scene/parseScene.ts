// Parses .imgprompt text into a typed Scene with every problem located: YAML syntax, unknown keys (with
// did-you-mean), wrong types, out-of-range numbers, bad enum values and aspects. Pure: no file access, so
// editors can run it on every keystroke. Files, the model and sizes are checked by checkScene/resolveScene.
import { parseDocument, type Document } from 'yaml';
import type { SceneDiagnostic } from '../errors';
import { LineIndex } from './sourceRange';
import type { Scene, SceneLocation } from './scene';

export interface ParsedScene {
  text: string;
  scene: Scene;
  /** Key and value ranges by path (`prompt`, `size.width`, `loras[0].file`). */
  locations: ReadonlyMap<string, SceneLocation>;
  diagnostics: SceneDiagnostic[];
  /** The YAML document with source ranges, for editor features (completion, hover, symbols). */
  document: Document.Parsed;
  lines: LineIndex;
}

// YAML errors that leave the document's structure intact; everything else stops the scene checks,
// because a broken structure produces misleading follow-on errors.
const RECOVERABLE_YAML_ERRORS = new Set(['DUPLICATE_KEY']);

const IMPLICIT_KEY_ERRORS = new Set(['BLOCK_AS_IMPLICIT_KEY', 'MULTILINE_IMPLICIT_KEY']);
const INDENTATION_ERRORS = new Set(['BAD_INDENT', 'BLOCK_AS_IMPLICIT_KEY', 'MULTILINE_IMPLICIT_KEY', 'TAB_AS_INDENT']);

import { SceneReader, truncate, type Value } from './sceneReader';

/** Parses scene text. Never throws: every problem is a diagnostic (errors make the scene unusable). */
export function parseScene(text: string): ParsedScene {
  const lines = new LineIndex(text);
  // The yaml library breaks lines only at LF; editors and YAML 1.2 also break at a lone CR (classic Mac
  // OS files). Same length, so every offset and range still points into the original text.
  const yamlText = text.replace(/\r(?!\n)/g, '\n');
  const document = parseDocument(yamlText, { intAsBigInt: true, prettyErrors: false, uniqueKeys: true, strict: true });
  const reader = new SceneReader(document, lines);
  if (yamlText !== text) {
    reader.report('warning', 'line-endings', 'this scene uses CR-only line endings (classic Mac OS); they are read as line breaks, but save it with LF or CRLF line endings so other tools read it too', lines.lineRange(0));
  }
  let structural = false;
  const yamlErrorLines = new Set<number>();
  for (const e of document.errors) {
    const duplicate = e.code === 'DUPLICATE_KEY';
    structural ||= !RECOVERABLE_YAML_ERRORS.has(e.code);
    let range = lines.range(e.pos[0], e.pos[1]);
    let message = `YAML syntax: ${e.message.split('\n')[0]}`;
    if (IMPLICIT_KEY_ERRORS.has(e.code)) {
      // The parser blames the value before an over-indented line; the over-indented line is the mistake.
      const next = lines.lineRange(range.start.line + 1);
      if (next.start.line === range.start.line + 1) {
        const indent = /^\s*/.exec(text.slice(lines.offset(next.start), lines.offset(next.end)))?.[0].length ?? 0;
        range = { start: { line: next.start.line, character: indent }, end: next.end };
        message = 'YAML syntax: this line is indented more than the key above it, so YAML reads it as part of that value';
      }
    }
    // One broken line often yields several parser errors; the first says it best.
    if (yamlErrorLines.has(range.start.line)) continue;
    yamlErrorLines.add(range.start.line);
    if (duplicate) {
      const key = /^[^:\r\n]*/.exec(text.slice(e.pos[0]))?.[0].trim() ?? '';
      const keyRange = lines.range(e.pos[0], e.pos[0] + Math.max(1, key.length));
      reader.report('error', 'duplicate-key', `duplicate key '${truncate(key)}'; each key may appear once`, keyRange);
      continue;
    }
    const hint = INDENTATION_ERRORS.has(e.code) ? ' (check the indentation: nested keys need more spaces than their parent, all keys of one mapping the same)' : '';
    reader.report('error', 'yaml-syntax', `${message}${hint}`, range);
  }
  for (const w of document.warnings) {
    reader.report('warning', 'yaml-warning', `YAML: ${w.message.split('\n')[0]}`, lines.range(w.pos[0], w.pos[1]));
  }
  const before = reader.diagnostics.length;
  const scene = reader.scene(document.contents as Value);
  if (structural) reader.diagnostics.length = before; // follow-on errors of a broken structure mislead
  const diagnostics = sortDiagnostics(reader.diagnostics);
  return { text, scene, locations: reader.locations, diagnostics, document, lines };
}

/** Orders diagnostics by position (stable), as editors and compilers list them. */
export function sortDiagnostics(diagnostics: SceneDiagnostic[]): SceneDiagnostic[] {
  return diagnostics
    .map((d, i) => [d, i] as const)
    .sort(([a, i], [b, j]) => a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character || i - j)
    .map(([d]) => d);
}

/** True when any diagnostic is an error. */
export function hasErrors(diagnostics: readonly SceneDiagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}
