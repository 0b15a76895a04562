// Reads of files a workspace supplies: regular files only, never more than a cap. A FIFO, a device
// (`/dev/zero`), a folder or a file over the cap is refused with an InputError naming the path and the
// rule, instead of hanging or filling memory. Opened non-blocking so a FIFO cannot stall the open.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { InputError } from '../errors';

/** Size caps per kind of file, in bytes. */
export const READ_CAPS = {
  scene: 1024 * 1024,
  config: 16 * 1024 * 1024,
  image: 256 * 1024 * 1024,
} as const;

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 0)} MiB`;
}

/**
 * The whole file at `path` if it is a regular file of at most `maxBytes`. `what` names the kind of file
 * in errors (`scene`, `PNG`, ...). Errors from the OS (missing, no permission) propagate unchanged.
 */
export async function readFileBounded(path: string, maxBytes: number, what: string): Promise<Buffer> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new InputError(`the ${what} is not a regular file (a folder, device, FIFO or socket is never read)`, path);
    if (stat.size > maxBytes) throw new InputError(`the ${what} is ${megabytes(stat.size)}, over the ${megabytes(maxBytes)} a ${what} may have`, path);
    // Read at most cap + 1 bytes: a file that grows while we read is still refused, never read forever.
    let buffer = Buffer.alloc(Math.min(maxBytes + 1, stat.size + 1));
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > maxBytes) throw new InputError(`the ${what} grew past the ${megabytes(maxBytes)} a ${what} may have while it was read`, path);
        const grown = Buffer.alloc(Math.min(maxBytes + 1, buffer.length * 2));
        buffer.copy(grown);
        buffer = grown;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) throw new InputError(`the ${what} grew past the ${megabytes(maxBytes)} a ${what} may have while it was read`, path);
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}
