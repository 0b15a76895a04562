// How the CLI places a scene: its project root (the nearest ancestor with .git, else the scene's folder),
// the configured model folders (--model-path, then IMGPROMPT_MODEL_PATH) and the built-in models/ folder of
// this package.
// Shared by every command that reads scenes (check, resolve, render, verify, watch).
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { hubCacheDir, isInside, parseLabelEnv, projectHubLookup, type ResolveContext } from '../engine/index';
import { UsageError } from './command';
import { cacheDir as cliCacheDir } from './renderSupport';

/**
 * The folder holding this package's package.json (name "imgprompt"), found by walking up from this
 * module: out/ in the bundle, src/cli/ under tsx. Undefined if the layout is unrecognisable.
 */
export function findPackageRoot(start: string = typeof __dirname === 'string' ? __dirname : process.cwd()): string | undefined {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'imgprompt') return dir;
      } catch {
        // an unreadable package.json on the way up is not ours
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** The built-in models/ folder of this package. */
export function builtinModelsDir(): string | undefined {
  const root = findPackageRoot();
  return root === undefined ? undefined : join(root, 'models');
}

/**
 * The project a scene belongs to, which bounds every path it may read or write: the nearest ancestor
 * folder holding .git, else the scene's own folder. Never the working directory: run from a parent folder
 * (or from /) that would make the whole tree the project. Scenes outside a repository that share files
 * across folders need a .git (an empty `.git` folder will do) at the folder that should be the project.
 */
export function findProjectRoot(sceneFile: string): string {
  const start = dirname(resolve(sceneFile));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, '.git'))) return dir;
    if (dirname(dir) === dir) return start;
  }
}

export interface SceneOptions {
  modelPaths: string[];
  /** Arguments that are not scene options, in order. */
  rest: string[];
}

/** Takes `--model-path DIR` / `--model-path=DIR` (repeatable) out of `args`. */
export function takeSceneOptions(args: string[], cwd: string): SceneOptions {
  const modelPaths: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--model-path') {
      const value = args[++i];
      if (value === undefined) throw new UsageError('--model-path needs a folder');
      modelPaths.push(resolve(cwd, value));
    } else if (arg.startsWith('--model-path=')) {
      modelPaths.push(resolve(cwd, arg.slice('--model-path='.length)));
    } else rest.push(arg);
  }
  return { modelPaths, rest };
}

/** The context for resolving `sceneFile`: project root, model folders, built-in models. */
export function sceneContext(sceneFile: string, modelPaths: readonly string[], cwd: string, env: NodeJS.ProcessEnv): ResolveContext {
  const fromEnv = (env.IMGPROMPT_MODEL_PATH ?? '').split(delimiter).filter((p) => p !== '').map((p) => resolve(cwd, p));
  const file = resolve(cwd, sceneFile);
  const projectRoot = findProjectRoot(file);
  return {
    file,
    projectRoot,
    modelSearchPaths: [...modelPaths, ...fromEnv],
    builtinModelsDir: builtinModelsDir(),
    hub: projectHubLookup(hubCacheDir(env), projectRoot, join(cliCacheDir(env), 'civitai')),
    ...defaultLabelFromEnv(env),
  };
}

/** IMGPROMPT_LABEL (the CLI's `imgprompt.label`): a visible label for scenes without `label:`; a bad value is a usage error. */
export function defaultLabelFromEnv(env: NodeJS.ProcessEnv): Pick<ResolveContext, 'defaultLabel'> {
  const { label, problems } = parseLabelEnv(env.IMGPROMPT_LABEL);
  if (problems.length > 0) throw new UsageError(problems.join('; '));
  return label ? { defaultLabel: label } : {};
}

/** A path as shown to the user: relative to the working directory when inside it. */
export function displayPath(path: string, cwd: string): string {
  const abs = resolve(cwd, path);
  const base = resolve(cwd);
  return isInside(base, abs) && abs !== base ? abs.slice(base.length + 1) : abs;
}
