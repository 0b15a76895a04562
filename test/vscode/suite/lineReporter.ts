// A mocha reporter that writes plain lines (spec-like, no colours) to the console and, when
// IMGPROMPT_VSCODE_TEST_LOG names a file, appends them there too: the extension host's console is not
// always visible to whoever started VS Code, a file is.
import { appendFileSync } from 'node:fs';
import Mocha from 'mocha';

const { EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_TEST_FAIL, EVENT_TEST_PASS, EVENT_TEST_PENDING } = Mocha.Runner.constants;

/** Writes one line of test output to the console and to the run's log file, if any. */
export function writeLine(line: string): void {
  console.log(line);
  const logFile = process.env.IMGPROMPT_VSCODE_TEST_LOG;
  if (logFile) appendFileSync(logFile, `${line}\n`);
}

export class LineReporter extends Mocha.reporters.Base {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    const write = writeLine;
    let depth = 0;
    const failed: Array<{ test: Mocha.Test; error: Error }> = [];
    runner.on(EVENT_SUITE_BEGIN, (suite) => {
      depth = suite.titlePath().length;
      if (suite.title) write(`${'  '.repeat(depth)}${suite.title}`);
    });
    runner.on(EVENT_TEST_PASS, (test) => write(`${'  '.repeat(depth + 1)}✔ ${test.title} (${test.duration ?? 0} ms)`));
    runner.on(EVENT_TEST_PENDING, (test) => write(`${'  '.repeat(depth + 1)}- ${test.title} (pending)`));
    runner.on(EVENT_TEST_FAIL, (test, error) => {
      failed.push({ test, error });
      write(`${'  '.repeat(depth + 1)}✖ ${failed.length}) ${test.title}`);
    });
    runner.once(EVENT_RUN_END, () => {
      const stats = runner.stats;
      write('');
      write(`  ${stats?.passes ?? 0} passing (${stats?.duration ?? 0} ms)`);
      if (stats?.pending) write(`  ${stats.pending} pending`);
      if (failed.length > 0) write(`  ${failed.length} failing`);
      failed.forEach(({ test, error }, index) => {
        write('');
        write(`  ${index + 1}) ${test.fullTitle()}`);
        write(`     ${String(error.stack ?? error.message).split('\n').join('\n     ')}`);
      });
    });
  }
}
