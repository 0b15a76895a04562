// The `imgprompt` command line: dispatches to one subcommand and maps engine errors to exit codes:
// 0 success; 1 a figure or scene failed (stale or missing for verify, an invalid scene, a model or input
// problem, a figure that cannot be written); 2 usage error; 129/130/143 stopped by SIGHUP/SIGINT/SIGTERM
// (terminationSignals.ts); 70 internal error, which bin.ts reserves for bugs (anything else thrown).
import { commands } from './commands/index';
import { UsageError, type CliIO } from './command';
import { CancelledError, InputError, ModelError, SceneError } from '../engine/errors';
import { escapeTerminalText } from '../engine/text/terminalText';
import { ENGINE_VERSION } from '../engine/version';
import { exitCodeOfAbort, InterruptedError } from './terminationSignals';

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length), 4);
  return [
    `imgprompt ${ENGINE_VERSION} — render prompt-as-code figures locally`,
    '',
    'usage: imgprompt <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `imgprompt <command> --help` for the options of one command.',
  ].join('\n');
}

export async function main(argv: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(help() + '\n');
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V') {
    io.stdout(`${ENGINE_VERSION}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.stderr(`imgprompt: unknown command '${escapeTerminalText(name)}'\n\n${help()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(command.usage + '\n');
    return 0;
  }
  try {
    return await command.run(rest, io, signal);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`imgprompt ${name}: ${escapeTerminalText(error.message)}\n\n${command.usage}\n`);
      return 2;
    }
    if (error instanceof CancelledError) {
      const reason: unknown = signal.reason;
      io.stderr(`imgprompt ${name}: ${reason instanceof InterruptedError ? reason.message : 'cancelled'}\n`);
      return exitCodeOfAbort(signal);
    }
    if (error instanceof SceneError || error instanceof ModelError || error instanceof InputError) {
      // Scene diagnostics and paths come from the workspace: escaped, one line each.
      io.stderr(`${escapeTerminalText(error.message, { multiline: true })}\n`);
      return 1;
    }
    throw error;
  }
}
