// `npm run test:vscode`: runs the extension inside a real VS Code (code-server 4.139 = VS Code 1.139,
// driven by Debian's Chromium through playwright-core), offline. Three phases:
//   1. the extension-host suite (test/vscode/suite/*.test.ts, mocha with the real `vscode` API), loaded
//      through the smoke-test driver's extensionDevelopmentPath / extensionTestsPath payload;
//   2. the *.restricted.test.ts files the same way, on a second server with Workspace Trust enabled, so
//      the workspace opens in Restricted Mode;
//   3. the UI suite (test/vscode/ui/*.ui.mjs) against the workbench DOM; screenshots in test-results/vscode/.
//      It tests what ships: `npm run package`'s .vsix, installed into a third server's own extensions
//      folder (no extensionDevelopmentPath). Packaging rebuilds out/ minified; build() runs after it, so
//      out/ ends as the normal (development + test bundle) build that phases 1 and 2 load.
// Options: --suite or --ui (one phase only), --keep (keep the temporary folder), --grep TEXT (mocha grep),
// --vsix FILE (the UI suite tests this already built .vsix, e.g. a release artifact, instead of packaging).
// Environment: IMGPROMPT_VSCODE_TEST_TIMEOUT_S (hard limit for the run after the install, default 600),
// IMGPROMPT_VSCODE_TEST_CACHE (where code-server is installed), IMGPROMPT_CHROMIUM (browser binary).
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { startCodeServer, tail } from './codeServer.mjs';
import { install } from './install.mjs';
import { chromiumExecutable } from './paths.mjs';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const resultsDir = join(projectRoot, 'test-results', 'vscode');
const workspaceFixture = join(projectRoot, 'test', 'vscode', 'workspace');
const uiSuiteDir = join(projectRoot, 'test', 'vscode', 'ui');
const suiteBundleDir = join(projectRoot, 'out', 'test', 'suite');

const args = process.argv.slice(2);
const phases = { suite: !args.includes('--ui') || args.includes('--suite'), ui: !args.includes('--suite') || args.includes('--ui') };
const keep = args.includes('--keep');
const grep = args.includes('--grep') ? args[args.indexOf('--grep') + 1] : undefined;
const givenVsix = args.includes('--vsix') ? resolve(args[args.indexOf('--vsix') + 1] ?? '') : undefined;
const timeoutS = Number(process.env.IMGPROMPT_VSCODE_TEST_TIMEOUT_S || 600);

const say = (message) => console.log(`[vscode-test] ${message}`);
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

/** Everything started by this run, torn down exactly once whichever way the run ends. */
const resources = { servers: [], browser: undefined, tempRoot: undefined };
let cleaningUp;
function cleanup() {
  cleaningUp ??= (async () => {
    if (resources.browser) await Promise.race([resources.browser.close().catch(() => {}), delay(10_000)]);
    for (const server of resources.servers) await server.stop();
    if (resources.tempRoot && !keep) rmSync(resources.tempRoot, { recursive: true, force: true });
    else if (resources.tempRoot) say(`kept ${resources.tempRoot}`);
  })();
  return cleaningUp;
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function build() {
  const started = Date.now();
  const result = spawnSync(process.execPath, ['esbuild.mjs', '--tests'], { cwd: projectRoot, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`build failed (node esbuild.mjs --tests):\n${result.stdout}${result.stderr}`);
  say(`built the extension and the test bundle in ${seconds(started)}`);
}

/**
 * `node scripts/package.mjs` (production bundles + vsce, the `npm run package` artifact at the project
 * root); resolves with the .vsix's absolute path, taken from the script's summary line. Asynchronous so
 * the watchdog and signal handlers stay live while it runs.
 */
async function packageVsix() {
  const started = Date.now();
  const { code, output } = await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join('scripts', 'package.mjs')], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? signal, output }));
  });
  const name = /^(\S+\.vsix): /m.exec(output)?.[1];
  if (code !== 0 || !name) throw new Error(`packaging failed (node scripts/package.mjs, ${code}):\n${output}`);
  const vsix = resolve(projectRoot, name);
  say(`packaged ${vsix} (${(statSync(vsix).size / 2 ** 20).toFixed(1)} MiB) in ${seconds(started)}`);
  return vsix;
}

/** A writable copy of the workspace fixture, so tests may create and save files. */
function copyWorkspace(name) {
  const target = join(resources.tempRoot, 'workspaces', name);
  cpSync(workspaceFixture, target, { recursive: true });
  return target;
}

/**
 * Opens the workbench on `folder`. With `extensionTestsPath`, this project is the extension under
 * development and the suite at that path runs in its extension host; without, the window runs the
 * extensions installed in the server's extensions folder (the UI suite: the packaged .vsix).
 */
function workbenchUrl(server, folder, extensionTestsPath) {
  const url = `${server.url}/?folder=${encodeURIComponent(folder)}`;
  if (!extensionTestsPath) return url;
  const remote = (path) => `vscode-remote://127.0.0.1:${server.port}${path}`;
  const payload = [['extensionDevelopmentPath', remote(projectRoot)], ['extensionTestsPath', remote(extensionTestsPath)]];
  return `${url}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/** Collects the page's console and the workbench's own log, written to test-results/vscode/workbench.log. */
function recordWorkbenchLog(page, lines) {
  page.on('console', (message) => lines.push(`[console.${message.type()}] ${message.text()}`));
  page.on('pageerror', (error) => lines.push(`[pageerror] ${error.stack ?? error.message}`));
}

async function newPage(context, workbenchLog) {
  const page = await context.newPage();
  await page.setViewportSize({ width: 1280, height: 800 });
  recordWorkbenchLog(page, workbenchLog);
  await page.exposeFunction('codeAutomationLog', (level, message) => workbenchLog.push(`[workbench.${level}] ${message}`));
  return page;
}

/**
 * Phase 1: mocha inside the extension host; resolves with the exit code the workbench reports. The
 * suite appends its report to `logFile` (the server was started with IMGPROMPT_VSCODE_TEST_LOG naming it).
 */
async function runExtensionHostSuite(context, server, workbenchLog, { label, logFile }) {
  const started = Date.now();
  writeFileSync(logFile, '');
  let printed = 0;
  const flush = () => {
    const text = readFileSync(logFile, 'utf8');
    const complete = text.lastIndexOf('\n') + 1;
    if (complete > printed) process.stdout.write(text.slice(printed, complete));
    printed = Math.max(printed, complete);
  };
  const page = await newPage(context, workbenchLog);
  let reportExit;
  const exitCode = new Promise((resolve) => (reportExit = resolve));
  // The workbench calls this when the suite's run() settles (0: resolved, 1: rejected).
  await page.exposeFunction('codeAutomationExit', (code) => reportExit(code));
  page.once('crash', () => {
    say(`${label}: the browser page crashed`);
    reportExit(1);
  });
  say(`${label}: opening the workbench`);
  await page.goto(workbenchUrl(server, copyWorkspace(label.replace(/\W+/g, '-')), join(suiteBundleDir, 'index.js')));
  const timer = setInterval(flush, 250);
  const code = await exitCode.finally(() => clearInterval(timer));
  flush();
  await page.close().catch(() => {});
  say(`${label}: exit code ${code} after ${seconds(started)}`);
  const report = readFileSync(logFile, 'utf8');
  totals.passed += Number(/^\s*(\d+) passing/m.exec(report)?.[1] ?? 0);
  totals.failed += Number(/^\s*(\d+) failing/m.exec(report)?.[1] ?? (code === 0 ? 0 : 1));
  if (code === 0 && printed === 0) {
    throw new Error(`the ${label} exited 0 but reported nothing: was IMGPROMPT_VSCODE_TEST_LOG passed through?`);
  }
  return code;
}

/** Phase 2: each test/vscode/ui/*.ui.mjs exports `tests`, a list of { name, run(ctx) }. */
async function runUiSuite(context, server, workbenchLog) {
  const started = Date.now();
  const files = readdirSync(uiSuiteDir).filter((name) => name.endsWith('.ui.mjs')).sort();
  let passed = 0;
  const failures = [];
  for (const file of files) {
    const { tests } = await import(pathToFileURL(join(uiSuiteDir, file)).href);
    console.log(`  ${file}`);
    // Loading the workbench is the slow part (tens of seconds on a busy machine): the tests of one file
    // share one window, opened on a fresh copy of the workspace fixture by the first test that asks.
    let workbench;
    const ctx = {
      resultsDir,
      log: (message) => console.log(`      ${message}`),
      /** The file's workbench window: { page, folder } (folder: the workspace on disk). */
      openWorkbench: async () => {
        workbench ??= (async () => {
          const opened = Date.now();
          const page = await newPage(context, workbenchLog);
          const folder = copyWorkspace(file.replace(/\.ui\.mjs$/, ''));
          await page.goto(workbenchUrl(server, folder));
          await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
          ctx.log(`workbench loaded in ${seconds(opened)}`);
          return { page, folder };
        })();
        return workbench;
      },
    };
    for (const { name, run } of tests) {
      if (grep && !name.includes(grep)) continue;
      const testStarted = Date.now();
      try {
        await run(ctx);
        passed++;
        console.log(`    ✔ ${name} (${Date.now() - testStarted} ms)`);
      } catch (error) {
        failures.push({ name, error });
        console.log(`    ✖ ${failures.length}) ${name}`);
        const shot = join(resultsDir, `failed-${failures.length}.png`);
        const page = await workbench?.then((opened) => opened.page, () => undefined);
        await page?.screenshot({ path: shot }).then(() => console.log(`      screenshot: ${shot}`), () => {});
      }
    }
    const page = await workbench?.then((opened) => opened.page, () => undefined);
    await page?.close().catch(() => {});
  }
  totals.passed += passed;
  totals.failed += failures.length;
  console.log(`\n  ${passed} passing (${seconds(started)})`);
  if (failures.length > 0) console.log(`  ${failures.length} failing`);
  failures.forEach(({ name, error }, index) => console.log(`\n  ${index + 1}) ${name}\n     ${String(error?.stack ?? error).split('\n').join('\n     ')}`));
  if (passed + failures.length === 0 && !grep) {
    console.log('  no UI test ran');
    return 1;
  }
  return failures.length > 0 ? 1 : 0;
}

/** Tests counted over every phase, for the closing summary line. */
const totals = { passed: 0, failed: 0 };

async function main() {
  await install();
  // The hard limit covers the run itself, not a first-time install of code-server.
  startWatchdog();
  const started = Date.now();
  if (givenVsix && !(existsSync(givenVsix) && statSync(givenVsix).isFile())) throw new Error(`--vsix ${givenVsix}: no such file`);
  let vsix = givenVsix;
  try {
    if (phases.ui && !vsix) vsix = await packageVsix();
  } finally {
    // Also after a failed packaging: out/ must not stay minified for the other phases and test runners.
    build();
  }
  // Screenshots of an earlier run would pass for this run's.
  rmSync(resultsDir, { recursive: true, force: true });
  mkdirSync(resultsDir, { recursive: true });
  resources.tempRoot = mkdtempSync(join(tmpdir(), 'imgprompt-vscode-test-'));
  const startServer = async (name, { logFile, env = {}, workspaceTrust = false, vsix } = {}) => {
    const serverStarted = Date.now();
    const server = await startCodeServer({
      root: join(resources.tempRoot, name),
      env: { ...(logFile ? { IMGPROMPT_VSCODE_TEST_LOG: logFile } : {}), ...(grep ? { IMGPROMPT_VSCODE_TEST_GREP: grep } : {}), ...env },
      workspaceTrust,
      vsix,
    });
    resources.servers.push(server);
    say(`${name} ready at ${server.url} in ${seconds(serverStarted)}`);
    return server;
  };

  if (!existsSync(chromiumExecutable)) throw new Error(`no browser at ${chromiumExecutable}: apt-get install -y chromium`);
  resources.browser = await chromium.launchPersistentContext(join(resources.tempRoot, 'browser-profile'), {
    executablePath: chromiumExecutable,
    headless: true,
    chromiumSandbox: false,
    args: [
      '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
    ],
  });
  for (const page of resources.browser.pages()) await page.close();

  const workbenchLog = [];
  /** Servers of the phases that failed, whose logs are worth printing. */
  const failedServers = [];
  const record = (server, code) => {
    if (code !== 0) failedServers.push(server);
  };
  try {
    // Each phase has its own server, stopped when the phase ends so the next one has the CPUs.
    if (phases.suite) {
      const logFile = join(resources.tempRoot, 'extension-host-tests.log');
      const server = await startServer('code-server', { logFile });
      record(server, await runExtensionHostSuite(resources.browser, server, workbenchLog, { label: 'extension-host suite', logFile }));
      await server.stop();
    }
    if (phases.suite && readdirSync(suiteBundleDir).some((name) => name.endsWith('.restricted.test.js'))) {
      // Workspace Trust is a server option.
      const logFile = join(resources.tempRoot, 'restricted-mode-tests.log');
      const restricted = await startServer('code-server-restricted', { logFile, env: { IMGPROMPT_VSCODE_TEST_MODE: 'restricted' }, workspaceTrust: true });
      record(restricted, await runExtensionHostSuite(resources.browser, restricted, workbenchLog, { label: 'Restricted Mode suite', logFile }));
      await restricted.stop();
    }
    if (phases.ui) {
      const server = await startServer('code-server-ui', { vsix });
      const { id, version, dir } = server.installed;
      say(`UI suite: extension ${id} ${version} installed from ${vsix} into ${dir} (no extensionDevelopmentPath)`);
      record(server, await runUiSuite(resources.browser, server, workbenchLog));
    }
  } finally {
    const logPath = join(resultsDir, 'workbench.log');
    writeFileSync(logPath, `${workbenchLog.join('\n')}\n`);
    if (failedServers.length > 0) say(`workbench log: ${logPath}`);
    for (const server of failedServers) say(`${server.logFile} (last lines):\n${tail(server.logFile)}`);
  }
  const failed = failedServers.length > 0;
  say(`${failed ? 'FAILED' : 'passed'} in ${seconds(started)}`);
  // The closing line CI reads: every phase's tests together.
  console.log(`vscode: ${totals.passed} passed, ${totals.failed} failed`);
  return failed ? 1 : 0;
}

let watchdog;
function startWatchdog() {
  watchdog = setTimeout(async () => {
    console.error(`[vscode-test] TIMEOUT: the run did not finish within ${timeoutS} s (IMGPROMPT_VSCODE_TEST_TIMEOUT_S); stopping code-server and the browser.`);
    for (const server of resources.servers) console.error(`[vscode-test] ${server.logFile} (last lines):\n${tail(server.logFile)}`);
    const pages = resources.browser?.pages() ?? [];
    for (const [index, page] of pages.entries()) {
      const shot = join(resultsDir, `timeout-${index + 1}.png`);
      await Promise.race([page.screenshot({ path: shot }).then(() => console.error(`[vscode-test] screenshot: ${shot}`)), delay(5000)]).catch(() => {});
    }
    await cleanup();
    process.exit(124);
  }, timeoutS * 1000);
}

let exitCode = 1;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    console.error(`[vscode-test] ${signal}: stopping`);
    await cleanup();
    process.exit(130);
  });
}
try {
  exitCode = await main();
} catch (error) {
  console.error(`[vscode-test] ${error instanceof Error ? error.stack : error}`);
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
process.exit(exitCode);
