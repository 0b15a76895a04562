// SHA-256 of a file's content, streamed so a 4 GB model never sits in memory. Two reused chunk buffers:
// the next chunk is read (on libuv's thread) while this one is hashed, so hashing a model file takes
// about as long as the slower of the two instead of their sum, and allocates nothing per chunk.
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { CancelledError, InputError, throwIfAborted } from '../errors';

const CHUNK_BYTES = 8 * 1024 * 1024;

/** Lower-case hex SHA-256 of the file at `path`. Throws InputError when it cannot be read. */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  throwIfAborted(signal);
  const hash = createHash('sha256');
  let handle: FileHandle | undefined;
  let pending: Promise<{ bytesRead: number }> | undefined;
  try {
    handle = await open(path, 'r');
    const file = handle;
    const buffers = [Buffer.allocUnsafeSlow(CHUNK_BYTES), Buffer.allocUnsafeSlow(CHUNK_BYTES)];
    const readInto = (k: number) => file.read(buffers[k], 0, CHUNK_BYTES, null);
    let turn = 0;
    pending = readInto(turn);
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      throwIfAborted(signal);
      // Reads go on from the file position in order: the next one starts before this chunk is hashed.
      pending = readInto(turn ^ 1);
      hash.update(buffers[turn].subarray(0, bytesRead));
      turn ^= 1;
    }
  } catch (error) {
    if (signal?.aborted || error instanceof CancelledError) throw new CancelledError();
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'expected a file, found a folder' : (error as Error).message;
    const e = new InputError(`cannot read the file to hash it: ${reason}`, path);
    e.cause = error;
    throw e;
  } finally {
    // A read still in flight (cancelled, or failed while hashing) ends before the handle closes.
    await pending?.catch(() => undefined);
    await handle?.close();
  }
  return hash.digest('hex');
}

/** Lower-case hex SHA-256 of bytes or a string (UTF-8). */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
