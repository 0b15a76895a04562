// The prompt log: one line per render, appended to `.imgprompt/prompt-log.md` in the project (time,
// scene, output, recipe hash, model hashes, output sha256, who). Each line is a Markdown table row, so
// the file reads as a table in any Markdown preview (VS Code's included) and stays greppable; lines are
// only ever appended (one write each), never rewritten.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { PortableRecipe } from '../render/renderJob';

export const PROMPT_LOG_PATH = '.imgprompt/prompt-log.md';
export const PROMPT_LOG_COLUMNS = ['time (UTC)', 'scene', 'output', 'recipe hash', 'model hashes', 'output sha256', 'who'] as const;

const HEADER =
  '# imgprompt prompt log\n\nOne row per render, appended by imgprompt (turn off with the `imgprompt.promptLog` setting or `IMGPROMPT_PROMPT_LOG=0`).\n\n' +
  `| ${PROMPT_LOG_COLUMNS.join(' | ')} |\n|${PROMPT_LOG_COLUMNS.map(() => '---').join('|')}|\n`;

export interface PromptLogEntry {
  readonly time: Date;
  readonly recipe: PortableRecipe;
  /** Project-relative output path. */
  readonly output: string;
  readonly outputSha256: string;
  readonly who: string;
}

/** A table cell: pipes and line breaks escaped so one render stays one row. */
function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n|\r/g, ' ');
}

function short(hash: string): string {
  return hash.replace(/^sha256:/, '').slice(0, 16);
}

export function formatPromptLogLine(entry: PromptLogEntry): string {
  const r = entry.recipe;
  const models = [`${r.model.name}@${short(r.model.hash)}`, ...r.loras.map((l) => `${l.file}@${short(l.hash)}`), ...r.control.map((c) => `${c.net.folder}@${short(c.net.hash)}`)];
  const cells = [entry.time.toISOString().replace(/\.\d{3}Z$/, 'Z'), r.scene, entry.output, r.hash, models.join(', '), entry.outputSha256, entry.who || 'unknown'];
  return `| ${cells.map(cell).join(' | ')} |\n`;
}

/** Parses the rows back (for tests and readers); the header and anything that is not a row are skipped. */
export function parsePromptLog(text: string): Record<(typeof PROMPT_LOG_COLUMNS)[number], string>[] {
  const rows: Record<string, string>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('| time (UTC)')) continue;
    const cells = line.slice(2, -2).split(/ (?<!\\)\| /).map((c) => c.replace(/\\\|/g, '|').replace(/\\\\/g, '\\'));
    if (cells.length !== PROMPT_LOG_COLUMNS.length) continue;
    rows.push(Object.fromEntries(PROMPT_LOG_COLUMNS.map((k, i) => [k, cells[i]])));
  }
  return rows as Record<(typeof PROMPT_LOG_COLUMNS)[number], string>[];
}

/** Appends one row, creating the log (with its header) on first use. */
export async function appendPromptLog(projectRoot: string, entry: Omit<PromptLogEntry, 'output'> & { readonly outputPath: string }): Promise<string> {
  const path = join(projectRoot, PROMPT_LOG_PATH);
  await mkdir(join(projectRoot, '.imgprompt'), { recursive: true });
  try {
    await writeFile(path, HEADER, { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const output = relative(projectRoot, entry.outputPath).split(sep).join('/');
  await appendFile(path, formatPromptLogLine({ ...entry, output }));
  return path;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** `Name <email>` from git's configuration in `cwd`, or undefined (no git, no identity, 2 s cap). */
export function gitAuthor(cwd: string): Promise<string | undefined> {
  const get = (key: string) =>
    new Promise<string | undefined>((resolve) => {
      execFile('git', ['config', '--get', key], { cwd, timeout: 2000, windowsHide: true }, (error, stdout) => resolve(error ? undefined : stdout.trim() || undefined));
    });
  return Promise.all([get('user.name'), get('user.email')]).then(([name, email]) => (name ? (email ? `${name} <${email}>` : name) : email));
}
