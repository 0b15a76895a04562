// Atomic file replacement: the bytes go to a temporary file in the target's folder, are fsynced, and the
// temporary is renamed over the target. Readers see the old file or the new one, never a mix; on any
// failure or cancellation the temporary is removed and the previous file is untouched. A temporary still
// in flight when the process exits (a second Ctrl+C, process.exit) is removed by an exit hook; one left by
// a process that died outright (SIGKILL, a crash, power loss) is swept by the next write into its folder.
// OS failures become an OutputError naming the target and the reason in words.
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { access, link, lstat, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CancelledError, InputError, OutputError, throwIfAborted } from '../errors';
import { systemErrorReason } from '../io/systemErrorReason';

export interface AtomicWriteOptions {
  /** Cancels the write; checked between chunks and before the rename. */
  signal?: AbortSignal;
  /** Replace an existing target (default true). When false an existing target is an InputError. */
  overwrite?: boolean;
  /** File mode of a newly created file (default 0o666 before umask). */
  mode?: number;
  /** Bytes per write call (default 1 MiB). */
  chunkSize?: number;
  /** Called after each chunk reaches the temporary file (tests use it to fail or cancel mid-write). */
  afterChunk?: (bytesWritten: number, tempPath: string) => void | Promise<void>;
  /** What the file is, for error messages: `cannot write the figure: ...` (default `the file`). */
  label?: string;
}

/** The temporary name used beside the target: hidden, unique per call, recognisably ours. */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** A name made by tempPathFor; group 1 is the pid of the process that made it. */
const TEMP_NAME = /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/;

/** Temporaries this process is writing now; an exit hook removes whatever is still here. */
const inFlight = new Set<string>();
let exitHookInstalled = false;

function track(temp: string): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // 'exit' handlers must be synchronous: the process ends as soon as they return.
    process.on('exit', () => {
      for (const path of inFlight) {
        try {
          unlinkSync(path);
        } catch {
          // gone already, or its folder is: nothing left to clean
        }
      }
    });
  }
  inFlight.add(temp);
}

/** Whether `pid` is a running process (one of another user's counts: kill(0) then fails with EPERM). */
function isLive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) !== 'ESRCH';
  }
}

/**
 * Removes temporaries in `folder` left by processes that no longer run (a SIGKILL or crash mid-write).
 * Only regular files named as tempPathFor names them, whose pid is not alive; best effort, never throws.
 */
export async function sweepStaleTemporaries(folder: string): Promise<string[]> {
  const swept: string[] = [];
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return swept; // the write itself will report a folder it cannot use
  }
  for (const name of names) {
    const pid = Number(TEMP_NAME.exec(name)?.[1] ?? 0);
    if (pid <= 0 || !Number.isSafeInteger(pid) || isLive(pid)) continue;
    const path = join(folder, name);
    try {
      if (!(await lstat(path)).isFile()) continue;
      await unlink(path);
      swept.push(path);
    } catch {
      // removed by someone else meanwhile, or not ours to remove
    }
  }
  return swept;
}

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error ? String((error as NodeJS.ErrnoException).code) : undefined;
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
}

/** Writes data to target atomically (see the file header). */
export async function writeFileAtomic(target: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): Promise<void> {
  try {
    await writeThroughTemporary(target, typeof data === 'string' ? Buffer.from(data, 'utf8') : data, options);
  } catch (error) {
    const reason = error instanceof InputError || error instanceof CancelledError ? undefined : systemErrorReason(error);
    if (reason === undefined) throw error;
    throw new OutputError(`cannot write ${options.label ?? 'the file'}: ${reason}`, target, errorCode(error));
  }
}

async function writeThroughTemporary(target: string, bytes: Uint8Array, options: AtomicWriteOptions): Promise<void> {
  const chunkSize = options.chunkSize ?? 1 << 20;
  throwIfAborted(options.signal);
  await sweepStaleTemporaries(dirname(target));
  const temp = tempPathFor(target);
  let committed = false;
  const handle = await open(temp, 'wx', options.mode ?? 0o666);
  track(temp);
  try {
    try {
      let written = 0;
      do {
        const end = Math.min(bytes.length, written + chunkSize);
        const { bytesWritten } = await handle.write(bytes, written, end - written, written);
        written += bytesWritten;
        await options.afterChunk?.(written, temp);
        throwIfAborted(options.signal);
      } while (written < bytes.length);
      await handle.sync();
    } finally {
      await handle.close();
    }
    throwIfAborted(options.signal);
    if (options.overwrite === false) await linkNoClobber(temp, target);
    else await rename(temp, target);
    committed = true;
    inFlight.delete(temp);
    await syncFolder(dirname(target));
  } finally {
    // The original failure matters more than a failed clean-up, so that one is not allowed to mask it.
    if (!committed) {
      await removeQuietly(temp).catch(() => undefined);
      inFlight.delete(temp);
    }
  }
}

/** Publishes temp at target only if target does not exist (a hard link fails with EEXIST atomically). */
async function linkNoClobber(temp: string, target: string): Promise<void> {
  try {
    await link(temp, target);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'EEXIST') throw new InputError('already exists (use --force to overwrite)', target);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw error;
    // A file system without hard links: check, then rename (a tiny race, the best it allows).
    if (await exists(target)) throw new InputError('already exists (use --force to overwrite)', target);
    await rename(temp, target);
    return;
  }
  await removeQuietly(temp);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Makes the rename durable; some platforms and file systems cannot fsync a folder, which is harmless. */
async function syncFolder(folder: string): Promise<void> {
  try {
    const handle = await open(folder, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Best effort only: the data itself was fsynced before the rename.
  }
}
