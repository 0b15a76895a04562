// SHA-256 of a file's content, streamed so a 4 GB model never sits in memory.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { CancelledError, InputError, throwIfAborted } from '../errors';

/** Lower-case hex SHA-256 of the file at `path`. Throws InputError when it cannot be read. */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  throwIfAborted(signal);
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, signal })) hash.update(chunk as Buffer);
  } catch (error) {
    if (signal?.aborted) throw new CancelledError();
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'expected a file, found a folder' : (error as Error).message;
    const e = new InputError(`cannot read the file to hash it: ${reason}`, path);
    e.cause = error;
    throw e;
  }
  return hash.digest('hex');
}

/** Lower-case hex SHA-256 of bytes or a string (UTF-8). */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
