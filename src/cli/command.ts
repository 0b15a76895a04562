// The shape of one CLI subcommand. Each lives in src/cli/commands/NAME.ts and is listed in commands/index.ts.

export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** True when stdout is an interactive terminal (progress bars) rather than a pipe or CI log. */
  isTTY: boolean;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  name: string;
  /** One line for `imgprompt --help`. */
  summary: string;
  /** Full usage text for `imgprompt NAME --help`. */
  usage: string;
  /** Runs the command; resolves to the process exit code (0 ok, 1 problems found, 2 usage error; main.ts lists them all). */
  run(args: string[], io: CliIO, signal: AbortSignal): Promise<number>;
}

/** Raised for bad command-line usage; main prints the message and the command's usage, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
