// Runs the extension-host suite (test/vscode/suite) in a desktop VS Code downloaded by
// @vscode/test-electron: for contributors with internet access (`node test/vscode/runTest.mjs`).
// Offline machines use `npm run test:vscode`, which runs the same suite in code-server.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTests } from '@vscode/test-electron';
import { restrictedModeSettings, userSettings } from '../../scripts/vscode-test/codeServer.mjs';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const suiteBundleDir = join(projectRoot, 'out', 'test', 'suite');
const build = spawnSync(process.execPath, ['esbuild.mjs', '--tests'], { cwd: projectRoot, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const tempRoot = mkdtempSync(join(tmpdir(), 'imgprompt-vscode-electron-'));

/** One VS Code window on a fresh copy of the workspace fixture; `restricted` leaves the folder untrusted. */
async function runSuite(name, restricted) {
  const workspace = join(tempRoot, name, 'workspace');
  cpSync(join(projectRoot, 'test', 'vscode', 'workspace'), workspace, { recursive: true });
  const userData = join(tempRoot, name, 'user-data');
  mkdirSync(join(userData, 'User'), { recursive: true });
  const settings = { ...userSettings, ...(restricted ? restrictedModeSettings : { 'security.workspace.trust.enabled': false }) };
  writeFileSync(join(userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  await runTests({
    version: process.env.VSCODE_TEST_VERSION || 'stable',
    extensionDevelopmentPath: projectRoot,
    extensionTestsPath: join(suiteBundleDir, 'index.js'),
    extensionTestsEnv: restricted ? { IMGPROMPT_VSCODE_TEST_MODE: 'restricted' } : {},
    launchArgs: [workspace, '--disable-extensions', '--user-data-dir', userData, ...(restricted ? [] : ['--disable-workspace-trust'])],
  });
}

let exitCode = 0;
try {
  await runSuite('suite', false);
  if (readdirSync(suiteBundleDir).some((name) => name.endsWith('.restricted.test.js'))) await runSuite('restricted', true);
} catch (error) {
  console.error(`extension-host suite failed: ${error instanceof Error ? error.message : error}`);
  exitCode = 1;
} finally {
  rmSync(tempRoot, { recursive: true, force: true });
}
process.exit(exitCode);
