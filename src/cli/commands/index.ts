// Every subcommand of `imgprompt`, in the order `--help` lists them.
import type { Command } from '../command';
import { checkCommand } from './check';
import { convertCommand } from './convert';
import { importCommand } from './import';
import { inspectCommand } from './inspect';
import { modelsCommand } from './models';
import { noiseCommand } from './noise';
import { renderCommand } from './render';
import { resolveCommand } from './resolve';
import { verifyCommand } from './verify';
import { watchCommand } from './watch';

export const commands: Command[] = [
  checkCommand,
  resolveCommand,
  renderCommand,
  verifyCommand,
  watchCommand,
  inspectCommand,
  importCommand,
  convertCommand,
  noiseCommand,
  modelsCommand,
];
