// Starts and stops one code-server (VS Code's server build) for a test run: a private HOME and user
// data, bound to a free port on 127.0.0.1, detached in its own process group so that stopping it also
// stops the extension host and every other helper process it forked. It can first install .vsix files
// into its own extensions folder, as a user would.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { codeServerEntry, nodeBinDir, nodeCompileCache, nodeExecutable } from './paths.mjs';

/** Settings that keep a test window quiet and deterministic: no welcome page, updates, telemetry or AI panels. */
export const userSettings = {
  'workbench.startupEditor': 'none',
  'workbench.colorTheme': 'Default Dark Modern',
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'git.autoRepositoryDetection': false,
  'chat.disableAIFeatures': true,
  'window.restoreWindows': 'none',
  'files.hotExit': 'off',
};

/** Workspace Trust on, and a folder the user has not trusted opens in Restricted Mode without a modal prompt. */
export const restrictedModeSettings = {
  'security.workspace.trust.enabled': true,
  'security.workspace.trust.startupPrompt': 'never',
  'security.workspace.trust.untrustedFiles': 'open',
  'security.workspace.trust.emptyWindow': false,
};

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilHealthy(url, child, logFile, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`code-server exited (${child.signalCode ?? child.exitCode}) before it was ready; log:\n${tail(logFile)}`);
    }
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`code-server did not answer ${url}/healthz within ${timeoutMs / 1000} s; log:\n${tail(logFile)}`);
}

export function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** code-server's environment: a private HOME and XDG folders under `home`, Node 24 first on PATH. */
function serverEnv(home, env) {
  return {
    ...process.env,
    ...env,
    PATH: `${nodeBinDir}${delimiter}${process.env.PATH ?? ''}`,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_CACHE_HOME: join(home, '.cache'),
    XDG_RUNTIME_DIR: join(home, '.run'),
    // Node 24 keeps compiled code of code-server and the extension host between runs.
    NODE_COMPILE_CACHE: nodeCompileCache,
    VSCODE_CLI: undefined,
    ELECTRON_RUN_AS_NODE: undefined,
  };
}

/**
 * `code-server --install-extension` (offline: a .vsix needs no marketplace), then the manifest of what
 * landed in `extensionsDir`, so a caller can say which build it is testing.
 * @returns {Promise<{ id: string, version: string, dir: string }>}
 */
async function installVsix(vsix, dirs, env) {
  const args = [
    codeServerEntry, '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions,
    '--install-extension', vsix, '--force',
  ];
  const output = await new Promise((resolve, reject) => {
    const child = spawn(nodeExecutable, args, { stdio: ['ignore', 'pipe', 'pipe'], env: serverEnv(dirs.home, env) });
    let text = '';
    child.stdout.on('data', (chunk) => (text += chunk));
    child.stderr.on('data', (chunk) => (text += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      code === 0 ? resolve(text) : reject(new Error(`code-server --install-extension ${vsix} failed (${signal ?? `exit ${code}`}):\n${text}`)),
    );
  });
  // The installer can exit 0 after a failure it only prints: check the list the server loads extensions from.
  const listPath = join(dirs.extensions, 'extensions.json');
  const entry = existsSync(listPath) ? JSON.parse(readFileSync(listPath, 'utf8')).find((e) => e.metadata?.source === 'vsix') : undefined;
  if (!entry) throw new Error(`code-server --install-extension ${vsix} registered no extension in ${listPath}:\n${output}`);
  return { id: entry.identifier.id, version: entry.version, dir: join(dirs.extensions, entry.relativeLocation) };
}

/**
 * Starts code-server with its state under `root` (a fresh temporary folder). `vsix`: a packaged
 * extension to install into the server's extensions folder first; `installed` then describes it.
 * @param {{ root: string, env?: Record<string, string>, workspaceTrust?: boolean, vsix?: string }} options
 */
export async function startCodeServer({ root, env = {}, workspaceTrust = false, vsix }) {
  const dirs = {
    home: join(root, 'home'),
    userData: join(root, 'user-data'),
    extensions: join(root, 'extensions'),
  };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  // The extension host listens on a socket here; XDG requires the folder to exist and be private.
  mkdirSync(join(dirs.home, '.run'), { recursive: true, mode: 0o700 });
  mkdirSync(join(dirs.userData, 'User'), { recursive: true });
  const settings = { ...userSettings, ...(workspaceTrust ? restrictedModeSettings : { 'security.workspace.trust.enabled': false }) };
  writeFileSync(join(dirs.userData, 'User', 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
  const logFile = join(root, 'code-server.log');
  const installed = vsix ? await installVsix(vsix, dirs, env) : undefined;

  // A port can be taken between probing and binding; retry with a new one rather than fail the run.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = [
      codeServerEntry,
      '--bind-addr', `127.0.0.1:${port}`,
      '--auth', 'none',
      '--user-data-dir', dirs.userData,
      '--extensions-dir', dirs.extensions,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-getting-started-override',
      '--vscode-option', 'enable-smoke-test-driver',
      ...(workspaceTrust ? [] : ['--disable-workspace-trust']),
    ];
    const log = createWriteStream(logFile, { flags: 'a' });
    await new Promise((resolve) => log.once('open', resolve));
    const child = spawn(nodeExecutable, args, {
      detached: true,
      stdio: ['ignore', log, log],
      env: serverEnv(dirs.home, env),
    });
    child.unref();
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitUntilHealthy(url, child, logFile, 60_000);
      let stopped;
      // Once only: after the group is gone its id may be reused by processes that are not ours.
      return { url, port, logFile, installed, stop: () => (stopped ??= stopProcessGroup(child)) };
    } catch (error) {
      await stopProcessGroup(child);
      if (attempt >= 3 || !/EADDRINUSE/.test(tail(logFile, 200))) throw error;
    }
  }
}

/** SIGTERM to the whole group, SIGKILL after 5 s if anything is left. */
export async function stopProcessGroup(child) {
  const signalGroup = (signal) => {
    try {
      process.kill(-child.pid, signal);
      return true;
    } catch {
      return false; // the group is gone
    }
  };
  if (!signalGroup('SIGTERM')) return;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (!signalGroup(0)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  signalGroup('SIGKILL');
}
