// An exclusive lock between processes (and within one) on a lock file, as huggingface_hub keeps one per
// blob under $HF_HUB_CACHE/.locks/. Created with O_EXCL and holding the owner's pid and host; a lock whose
// owner on this host has died is taken over, so a killed download never blocks the next one.
import { hostname } from 'node:os';
import { mkdirSync, openSync, closeSync, readFileSync, unlinkSync, writeSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { CancelledError } from '../errors';

const POLL_MS = 50;
/** A lock from another host (shared network cache) older than this is taken as abandoned. */
const FOREIGN_STALE_MS = 60 * 60 * 1000;

function ownerAlive(text: string, path: string): boolean {
  const [pidText, host] = text.split('\n');
  const pid = Number(pidText);
  if (host !== hostname()) {
    try {
      return Date.now() - statSync(path).mtimeMs < FOREIGN_STALE_MS;
    } catch {
      return false;
    }
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryCreate(path: string): boolean {
  try {
    const fd = openSync(path, 'wx');
    try {
      writeSync(fd, `${process.pid}\n${hostname()}\n`);
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** Runs `work` holding the lock at `path`; waits (cancellably) while someone else holds it. */
export async function withFileLock<T>(path: string, work: () => Promise<T>, signal?: AbortSignal, onWait?: () => void): Promise<T> {
  mkdirSync(dirname(path), { recursive: true });
  let told = false;
  for (;;) {
    if (signal?.aborted) throw new CancelledError();
    if (tryCreate(path)) break;
    let text = '';
    try {
      text = readFileSync(path, 'utf8').slice(0, 300);
    } catch {
      continue; // released between our create and our read
    }
    // An empty file is a lock being written this instant: wait, do not steal it.
    if (text !== '' && !ownerAlive(text, path)) {
      try {
        unlinkSync(path);
      } catch {
        // someone else took it over first
      }
      continue;
    }
    if (!told) onWait?.();
    told = true;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  try {
    return await work();
  } finally {
    try {
      unlinkSync(path);
    } catch {
      // already gone: nothing to release
    }
  }
}
