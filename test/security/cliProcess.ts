// The `imgprompt` command as users run it, for the security tests that need a real process (exit codes,
// signals, stderr): the CLI bundled from the current source, as esbuild.mjs bundles out/cli.js, but into a
// file of this test process's own, so that test files running in parallel (or a concurrent `node
// esbuild.mjs`) never spawn a half-written bundle.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, type Dirent } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';

export const repoRoot = resolve(__dirname, '..', '..');

export interface CliUnderTest {
  /** Runs the CLI to completion in `cwd`. */
  run(cwd: string, args: string[], env?: NodeJS.ProcessEnv): SpawnSyncReturns<string>;
  /** Starts the CLI in `cwd` (after `nodeArgs`, e.g. an --import hook); the caller waits for it. */
  start(cwd: string, args: string[], env?: NodeJS.ProcessEnv, nodeArgs?: string[]): ChildProcess;
  /** Removes the bundle. */
  cleanup(): void;
}

/** Bundles src/cli/bin.ts (inside out/, so the CLI finds this package's models/ as out/cli.js does). */
export function buildCli(): CliUnderTest {
  const dir = join(repoRoot, 'out', 'security-tests');
  const cli = join(dir, `cli-${process.pid}.js`);
  mkdirSync(dir, { recursive: true });
  buildSync({
    entryPoints: [join(repoRoot, 'src', 'cli', 'bin.ts')],
    outfile: cli,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'silent',
    external: ['vscode', 'onnxruntime-node', 'sharp', 'fsevents'],
  });
  const envFor = (cwd: string, env: NodeJS.ProcessEnv = {}) => ({ ...process.env, CI: 'true', IMGPROMPT_CACHE_DIR: join(cwd, '.cache'), IMGPROMPT_CONFIG_DIR: join(cwd, '.config'), ...env });
  return {
    run: (cwd, args, env) => spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', env: envFor(cwd, env) }),
    start: (cwd, args, env, nodeArgs = []) => spawn(process.execPath, [...nodeArgs, cli, ...args], { cwd, env: envFor(cwd, env), stdio: ['ignore', 'pipe', 'pipe'] }),
    cleanup: () => rmSync(cli, { force: true }),
  };
}

/** Every file under `dir` (recursively) whose name looks like a temporary of writeFileAtomic. */
export function temporariesIn(dir: string): string[] {
  const found: string[] = [];
  const walk = (folder: string) => {
    for (const entry of readdirEntries(folder)) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/^\..+\.\d+\.[0-9a-f]+\.tmp$/.test(entry.name)) found.push(path);
    }
  };
  walk(dir);
  return found;
}

function readdirEntries(folder: string): Dirent[] {
  try {
    return readdirSync(folder, { withFileTypes: true });
  } catch {
    return []; // a folder that cannot be listed holds nothing this test can check
  }
}
