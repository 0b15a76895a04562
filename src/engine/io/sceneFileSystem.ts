// The little file-system access the scene layer needs, injectable so the extension can validate unsaved
// documents against its own (cached or virtual) view, and tests can run without touching disk.
import { readdirSync, readFileSync, statSync } from 'node:fs';

export type EntryKind = 'file' | 'directory';

export interface SceneFileSystem {
  /** What is at `path`, or undefined when nothing is (or it cannot be read). Must not throw. */
  stat(path: string): EntryKind | undefined;
  /** UTF-8 text of a small file (model configs), or undefined when it does not exist. May throw on IO errors. */
  readText(path: string): string | undefined;
  /** Names of the sub-folders of `path`, for "did you mean" on unknown model names. Optional; must not throw. */
  subfolders?(path: string): string[];
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
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  },
  subfolders(path) {
    try {
      return readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return [];
    }
  },
};
