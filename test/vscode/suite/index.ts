// Entry point VS Code calls inside the extension host (`extensionTestsPath`): runs the *.test.js files
// bundled next to this file with mocha and rejects when a test fails or none ran, which makes VS Code
// (or code-server's smoke-test driver) exit non-zero. Used by scripts/vscode-test/run.mjs and runTest.mjs.
// IMGPROMPT_VSCODE_TEST_MODE=restricted selects the *.restricted.test.js files instead (Restricted Mode).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';
import { LineReporter, writeLine } from './lineReporter';

export async function run(): Promise<void> {
  try {
    await runMocha();
  } catch (error) {
    // Without this a suite that cannot even load shows up only as a non-zero exit code.
    writeLine(`extension-host suite failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    throw error;
  }
}

async function runMocha(): Promise<void> {
  const mocha = new Mocha({ ui: 'tdd', timeout: 30_000, reporter: LineReporter, color: false });
  const grep = process.env.IMGPROMPT_VSCODE_TEST_GREP;
  if (grep) mocha.grep(grep);
  // *.restricted.test.js run in a separate window where the workspace is not trusted (Restricted Mode).
  const restricted = process.env.IMGPROMPT_VSCODE_TEST_MODE === 'restricted';
  const files = readdirSync(__dirname)
    .filter((name) => name.endsWith('.test.js') && name.endsWith('.restricted.test.js') === restricted)
    .sort();
  if (files.length === 0) throw new Error(`no *.test.js files next to ${__filename}; build them with: node esbuild.mjs --tests`);
  for (const name of files) mocha.addFile(join(__dirname, name));
  await mocha.loadFilesAsync();
  const { failures, tests } = await new Promise<{ failures: number; tests: number }>((resolve) => {
    const runner = mocha.run((failures) => resolve({ failures, tests: runner.stats?.tests ?? 0 }));
  });
  if (failures > 0) throw new Error(`${failures} extension-host test${failures === 1 ? '' : 's'} failed`);
  // With --grep the match may be in the UI suite only.
  if (tests === 0 && !grep) throw new Error('no extension-host test ran');
}
