// The little file-system access the scene layer needs, injectable so the extension can validate unsaved
// documents against its own (cached or virtual) view, and tests can run without touching disk. Every
// read here is bounded: a config is a regular file under READ_CAPS.config, never a device or a FIFO.
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../errors';

export type EntryKind = 'file' | 'directory';

/** The largest config file (JSON, YAML) the scene layer reads. */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

export interface SceneFileSystem {
  /** What is at `path`, or undefined when nothing is (or it cannot be read). Must not throw. */
  stat(path: string): EntryKind | undefined;
  /** UTF-8 text of a small file (model configs), or undefined when it does not exist. May throw on IO errors. */
  readText(path: string): string | undefined;
  /** Names of the sub-folders of `path`, for "did you mean" on unknown model names. Optional; must not throw. */
  subfolders?(path: string): string[];
  /** Names of the regular files in `path` (a model's embeddings folder). Optional; must not throw. */
  files?(path: string): string[];
  /**
   * Where `path` really is: symbolic links resolved, for the longest part that exists (the rest, not yet
   * created, appended). Optional (virtual file systems have no links); must not throw.
   */
  realpath?(path: string): string;
  /** A file's identity (device and inode), so hard links to one file compare equal. Optional; must not throw. */
  identity?(path: string): string | undefined;
}

/** realpath of the deepest existing ancestor of `path`, with the missing rest appended. */
export function realpathOfExisting(path: string): string {
  const missing: string[] = [];
  let current = path;
  for (;;) {
    try {
      return join(realpathSync(current), ...missing.reverse());
    } catch {
      const parent = dirname(current);
      if (parent === current) return path;
      missing.push(basename(current));
      current = parent;
    }
  }
}

/** A small text file: regular, at most `maxBytes`; opened non-blocking so a FIFO cannot hang the read. */
export function readTextBounded(path: string, maxBytes = MAX_CONFIG_BYTES): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new InputError('not a regular file (a folder, device, FIFO or socket is never read)');
    if (stat.size > maxBytes) throw new InputError(`${stat.size} bytes, over the ${maxBytes} a config file may have`);
    const buffer = Buffer.alloc(Math.min(stat.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) throw new InputError(`grew past the ${maxBytes} bytes a config file may have while it was read`);
      const n = readSync(fd, buffer, length, buffer.length - length, length);
      if (n === 0) break;
      length += n;
    }
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The real disk, through synchronous calls: the checks are a handful of stats on small files. */
export const nodeFileSystem: SceneFileSystem = {
  stat(path) {
    try {
      const s = statSync(path);
      return s.isFile() ? 'file' : s.isDirectory() ? 'directory' : undefined;
    } catch {
      return undefined;
    }
  },
  readText(path) {
    return readTextBounded(path);
  },
  subfolders(path) {
    try {
      return readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return [];
    }
  },
  files(path) {
    try {
      return readdirSync(path, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
    } catch {
      return [];
    }
  },
  realpath: realpathOfExisting,
  identity(path) {
    try {
      const s = statSync(path);
      return `${s.dev}:${s.ino}`;
    } catch {
      return undefined;
    }
  },
};
