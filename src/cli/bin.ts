// Process entry of the bundled CLI (out/cli.js): wires main() to the real process.
import { main } from './main';
import type { CliIO } from './command';
import { abortOnTerminationSignals } from './terminationSignals';

const controller = new AbortController();
abortOnTerminationSignals(controller);
const io: CliIO = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  isTTY: Boolean(process.stdout.isTTY) && !process.env.CI,
  cwd: process.cwd(),
  env: process.env,
};
main(process.argv.slice(2), io, controller.signal).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`imgprompt: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 70; // EX_SOFTWARE: only a bug in imgprompt ends here
  },
);
