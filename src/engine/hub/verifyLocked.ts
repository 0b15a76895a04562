// Checks the files a lockfile names against what is on this machine: each must be in the hub cache at the
// locked commit, with the locked size and sha256 (the bytes are hashed, not the names trusted).
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { CancelledError } from '../errors';
import { repoCachePaths } from './hubCache';
import type { Lockfile } from './lockfile';

export interface LockedFileProblem {
  key: string;
  file: string;
  problem: string;
}

/** The sha256 (hex) of a file's bytes, read in 4 MB chunks. */
export async function sha256OfFile(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
    if (signal?.aborted) throw new CancelledError();
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/** Every locked file that is missing or differs, with what is wrong; an empty list when all match. */
export async function verifyLockedFiles(lock: Lockfile, cacheDir: string, civitaiDir: string | undefined, signal?: AbortSignal, onFile?: (key: string, file: string) => void): Promise<LockedFileProblem[]> {
  const problems: LockedFileProblem[] = [];
  for (const [key, entry] of Object.entries(lock.models).sort(([a], [b]) => a.localeCompare(b))) {
    if (entry.source === 'civitai' && !civitaiDir) continue;
    const snapshot = entry.source === 'civitai' ? join(civitaiDir!, 'versions', entry.commit) : join(repoCachePaths(cacheDir, entry.repo).snapshots, entry.commit);
    for (const [file, want] of Object.entries(entry.files).sort(([a], [b]) => a.localeCompare(b))) {
      onFile?.(key, file);
      const path = join(snapshot, ...file.split('/'));
      let size: number;
      try {
        size = statSync(path).size;
      } catch {
        problems.push({ key, file, problem: `missing from the cache (${path})` });
        continue;
      }
      if (size !== want.size) {
        problems.push({ key, file, problem: `has ${size} bytes, the lock says ${want.size}` });
        continue;
      }
      const got = await sha256OfFile(path, signal);
      if (got !== want.sha256) problems.push({ key, file, problem: `sha256 is ${got}, the lock says ${want.sha256}` });
    }
  }
  return problems;
}

/** The project's own locked files (`local`) that are missing or differ from their locked size and sha256. */
export async function verifyLocalFiles(lock: Lockfile, projectRoot: string, signal?: AbortSignal, only?: ReadonlySet<string>): Promise<LockedFileProblem[]> {
  const problems: LockedFileProblem[] = [];
  for (const [file, want] of Object.entries(lock.local ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    if (only && !only.has(file)) continue;
    const path = join(projectRoot, ...file.split('/'));
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      problems.push({ key: 'local', file, problem: 'is locked but missing from the project' });
      continue;
    }
    if (size !== want.size) problems.push({ key: 'local', file, problem: `has ${size} bytes, the lock says ${want.size}` });
    else {
      const got = await sha256OfFile(path, signal);
      if (got !== want.sha256) problems.push({ key: 'local', file, problem: `sha256 is ${got}, the lock says ${want.sha256}` });
    }
  }
  return problems;
}
