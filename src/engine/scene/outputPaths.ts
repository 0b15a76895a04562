// Where a render writes: the one rule for a scene's PNG, its variants' PNGs and its saved hint images.
// Everything that names an output (the planner, the CLI, the editor's diagnostics and preview) asks here,
// so they always speak of the same file. Pure: no file access.
import { basename, dirname, extname, isAbsolute, join, normalize, resolve } from 'node:path';
import { InputError } from '../errors';

/** Variables an output pattern (the editor's `imgprompt.outputPattern` setting) may use. */
export const OUTPUT_PATTERN_VARIABLES = ['sceneDir', 'sceneName', 'workspaceFolder'] as const;
export type OutputPatternVariable = (typeof OUTPUT_PATTERN_VARIABLES)[number];
export const DEFAULT_OUTPUT_PATTERN = '${sceneDir}/${sceneName}.png';

/** Why `pattern` is unusable, or undefined when it is fine. */
export function checkOutputPattern(pattern: string): string | undefined {
  for (const m of pattern.matchAll(/\$\{([^}]*)\}/g)) {
    if (!(OUTPUT_PATTERN_VARIABLES as readonly string[]).includes(m[1])) {
      return `unknown variable \${${m[1]}} in ${JSON.stringify(pattern)}; allowed: ${OUTPUT_PATTERN_VARIABLES.map((v) => `\${${v}}`).join(', ')}`;
    }
  }
  if (!pattern.trim().toLowerCase().endsWith('.png')) return `${JSON.stringify(pattern)} must end in .png`;
  return undefined;
}

/**
 * The absolute path a pattern names for a scene. Throws InputError for a bad pattern or a variable with no
 * value here (`${workspaceFolder}` outside a workspace). Relative results resolve against the scene's folder.
 */
export function expandOutputPattern(pattern: string, values: Readonly<Record<OutputPatternVariable, string | undefined>>): string {
  const problem = checkOutputPattern(pattern);
  if (problem) throw new InputError(`output pattern: ${problem}`);
  let missing: string | undefined;
  const expanded = pattern.trim().replace(/\$\{([^}]*)\}/g, (_all, name: OutputPatternVariable) => {
    const v = values[name];
    if (v === undefined) missing ??= name;
    return v ?? '';
  });
  if (missing !== undefined) throw new InputError(`output pattern uses \${${missing}}, which has no value for this scene (it is not inside a workspace folder)`);
  return isAbsolute(expanded) ? normalize(expanded) : resolve(values.sceneDir ?? '', expanded);
}

export interface OutputRule {
  /** The scene's `output:` value, already resolved to an absolute path (by checkScene), when written. */
  readonly written?: string;
  /** An output pattern for scenes without `output:` (default `${sceneDir}/${sceneName}.png`). */
  readonly pattern?: string;
  /** The workspace folder holding the scene, for `${workspaceFolder}`. */
  readonly workspaceFolder?: string;
}

/**
 * The main output of `sceneFile`: its written `output:`, else the pattern, else `<scene name>.png` beside
 * it. A pattern that cannot apply to this scene falls back to the default (the editor reports the
 * pattern's problem where the setting is read).
 */
export function sceneOutputPath(sceneFile: string, rule: OutputRule = {}): string {
  if (rule.written !== undefined) return rule.written;
  const sceneDir = dirname(resolve(sceneFile));
  const sceneName = basename(sceneFile, extname(sceneFile));
  if (rule.pattern !== undefined) {
    try {
      return expandOutputPattern(rule.pattern, { sceneDir, sceneName, workspaceFolder: rule.workspaceFolder });
    } catch {
      // fall through to the default
    }
  }
  return join(sceneDir, `${sceneName}.png`);
}

/** `figure.png` + seed 42 → `figure-42.png`, beside the main output. */
export function variantOutputPath(output: string, seed: string | bigint): string {
  return `${join(dirname(output), basename(output, extname(output)))}-${seed}.png`;
}

/** `figure.png` → `figure.hint-1.png` for the first (1-based) hint. */
export function hintOutputPath(output: string, n: number): string {
  return `${output.replace(/\.png$/i, '')}.hint-${n}.png`;
}
