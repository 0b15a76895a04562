// Expands the CLI's scene arguments: files, folders (searched recursively for *.imgprompt) and quoted
// globs (`'docs/**/*.imgprompt'`, for shells and CI configs that do not expand them).
import { readdirSync, statSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';
import { UsageError } from './command';
import { globToRegExp } from '../engine/text/globPattern';

const SKIPPED_DIRS = new Set(['node_modules', 'out']);

/** Scene files under `dir`, sorted, skipping dependency, build and hidden folders. */
export function scenesIn(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!entry.name.startsWith('.') && !SKIPPED_DIRS.has(entry.name)) found.push(...scenesIn(path));
    } else if (entry.isFile() && extname(entry.name) === '.imgprompt') found.push(path);
  }
  return found;
}

// The glob rule lives in the engine so the extension's Verify matches published files the same way.
export { globToRegExp };

export interface SceneTargets {
  /** Absolute scene paths, de-duplicated, in argument order. */
  files: string[];
  /** Arguments that matched nothing, with why. */
  problems: { target: string; message: string }[];
}

export function expandSceneTargets(targets: readonly string[], cwd: string): SceneTargets {
  const files: string[] = [];
  const problems: SceneTargets['problems'] = [];
  const add = (file: string) => {
    if (!files.includes(file)) files.push(file);
  };
  for (const target of targets) {
    if (/[*?]/.test(target)) {
      const pattern = globToRegExp(target.split(sep).join('/'));
      const matches = scenesIn(resolve(cwd)).filter((f) => pattern.test(relative(cwd, f).split(sep).join('/')));
      if (matches.length === 0) problems.push({ target, message: 'no .imgprompt files match this pattern' });
      matches.forEach(add);
      continue;
    }
    const abs = resolve(cwd, target);
    let isDir: boolean;
    try {
      isDir = statSync(abs).isDirectory();
    } catch {
      problems.push({ target: abs, message: 'no such file or folder' });
      continue;
    }
    if (!isDir) {
      add(abs);
      continue;
    }
    const found = scenesIn(abs);
    if (found.length === 0) problems.push({ target: abs, message: 'no .imgprompt files in this folder' });
    found.forEach(add);
  }
  return { files, problems };
}

/**
 * Splits arguments into the boolean `known` flags that were given and the scene targets; an unknown
 * option, or no target at all, is a usage error.
 */
export function takeFlagsAndTargets(args: readonly string[], known: readonly string[]): { flags: Set<string>; targets: string[] } {
  const flags = new Set(args.filter((a) => known.includes(a)));
  const targets = args.filter((a) => !known.includes(a));
  const unknown = targets.find((a) => a.startsWith('-'));
  if (unknown) throw new UsageError(`unknown option '${unknown}'`);
  if (targets.length === 0) throw new UsageError('name at least one scene file, folder or glob');
  return { flags, targets };
}
