// Versions of an output PNG from git history, so the preview can diff the working figure against what
// was committed. Reads through the built-in Git extension's API (the user's git, settings and auth);
// when that extension is disabled or not ready, runs the `git` executable directly; when neither works
// the preview says why and shows no git versions. Blobs are copied into a cache folder because webviews
// can only load images from local files (asWebviewUri).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import * as vscode from 'vscode';

const run = promisify(execFile);

export interface GitVersion {
  readonly commit: string;
  /** Commit time, milliseconds since the epoch. */
  readonly date: number;
  readonly message: string;
  /** The PNG as it was in that commit, copied to the cache. */
  readonly file: string;
}

export interface GitVersions {
  /** Newest first; the first is the version at HEAD. */
  readonly versions: readonly GitVersion[];
  /** Why there are none, when there are none. */
  readonly note?: string;
}

/** The parts of the Git extension's API (extensions/git/src/api/git.d.ts, version 1) used here. */
interface GitCommit {
  readonly hash: string;
  readonly message: string;
  readonly authorDate?: Date;
  readonly commitDate?: Date;
}
interface GitRepository {
  readonly rootUri: vscode.Uri;
  buffer(ref: string, path: string): Promise<Buffer>;
  log(options?: { maxEntries?: number; path?: string }): Promise<GitCommit[]>;
}
interface GitApi {
  readonly state: 'uninitialized' | 'initialized';
  getRepository(uri: vscode.Uri): GitRepository | null;
  openRepository?(root: vscode.Uri): Promise<GitRepository | null>;
}
interface GitExtension {
  readonly enabled: boolean;
  getAPI(version: 1): GitApi;
}

/** Reads file history through one of the two routes. */
interface GitSource {
  log(file: string, max: number): Promise<GitCommit[]>;
  blob(commit: string, file: string): Promise<Uint8Array>;
}

export class GitHistory {
  constructor(
    private readonly cacheDir: string,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** Up to `max` committed versions of `file` (absolute path), newest first. */
  async versions(file: string, max = 8): Promise<GitVersions> {
    let source: GitSource | undefined;
    let note = 'git is not available';
    try {
      source = await this.apiSource(file);
    } catch (error) {
      this.log.debug(`git extension unavailable for ${file}: ${String(error)}`);
    }
    source ??= await this.cliSource(file).catch((error: unknown) => {
      note = /not a git repository/i.test(String(error)) ? 'not in a git repository' : 'git is not available';
      return undefined;
    });
    if (!source) return { versions: [], note };
    try {
      const commits = await source.log(file, max);
      if (commits.length === 0) return { versions: [], note: `${basename(file)} is not committed yet` };
      const versions: GitVersion[] = [];
      for (const commit of commits) {
        const cached = join(this.cacheDir, `${createHash('sha256').update(`${commit.hash}:${file}`).digest('hex').slice(0, 32)}.png`);
        const present = await stat(cached).then(() => true, () => false);
        if (!present) {
          const bytes = await source.blob(commit.hash, file).catch(() => undefined);
          // A commit that deleted the file lists it but has no blob.
          if (!bytes || bytes.length === 0) continue;
          await mkdir(this.cacheDir, { recursive: true });
          await writeFile(cached, bytes);
        }
        const date = commit.commitDate ?? commit.authorDate;
        versions.push({ commit: commit.hash, date: date ? date.getTime() : 0, message: commit.message.split('\n')[0], file: cached });
      }
      return { versions };
    } catch (error) {
      this.log.warn(`reading git history of ${file} failed: ${error instanceof Error ? error.message : String(error)}`);
      return { versions: [], note: 'git history could not be read (see the imgprompt log)' };
    }
  }

  private async apiSource(file: string): Promise<GitSource | undefined> {
    const extension = vscode.extensions.getExtension<GitExtension>('vscode.git');
    if (!extension) return undefined;
    const exports = extension.isActive ? extension.exports : await extension.activate();
    if (!exports.enabled) return undefined;
    const api = exports.getAPI(1);
    if (api.state !== 'initialized') return undefined;
    const repository = api.getRepository(vscode.Uri.file(file)) ?? (await api.openRepository?.(vscode.Uri.file(dirname(file)))) ?? null;
    if (!repository) return undefined;
    return {
      log: (path, max) => repository.log({ maxEntries: max, path }),
      blob: (commit, path) => repository.buffer(commit, path),
    };
  }

  private async cliSource(file: string): Promise<GitSource> {
    const cwd = dirname(file);
    const options = { cwd, maxBuffer: 256 * 1024 * 1024, timeout: 15_000 };
    await run('git', ['rev-parse', '--show-toplevel'], options);
    return {
      async log(path, max) {
        const { stdout } = await run('git', ['log', `-n${max}`, '--format=%H%x1f%ct%x1f%s', '--', basename(path)], options);
        return stdout
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            const [hash, seconds, message] = line.split('\x1f');
            return { hash, message: message ?? '', commitDate: new Date(Number(seconds) * 1000) };
          });
      },
      async blob(commit, path) {
        const { stdout } = await run('git', ['show', `${commit}:./${basename(path)}`], { ...options, encoding: 'buffer' });
        return stdout;
      },
    };
  }
}
