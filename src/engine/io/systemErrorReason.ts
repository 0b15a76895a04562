// OS errors in words for the user: `permission denied (EACCES)` rather than a raw errno line or a stack.
import { getSystemErrorMap } from 'node:util';

/** OS error codes a file write can meet, in words (libuv's own text for any other code). */
const SYSTEM_ERROR_WORDS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exceeded',
  EFBIG: 'the file is too large for the file system',
  ENOTDIR: 'a file stands where a folder should be',
  EISDIR: 'a folder stands where the file should be',
  ENOENT: 'the folder does not exist',
  EROFS: 'the file system is read-only',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EBUSY: 'the file is busy',
  ETXTBSY: 'the file is busy',
  EIO: 'an input/output error of the device',
  EXDEV: 'the temporary file and the target are on different devices',
};

/**
 * An OS error (one with a `code` and the `syscall` that failed, as node:fs throws) in words with its code,
 * e.g. `permission denied (EACCES)`; undefined for any other error.
 */
export function systemErrorReason(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, syscall, errno } = error as NodeJS.ErrnoException;
  if (typeof code !== 'string' || typeof syscall !== 'string') return undefined;
  const words = SYSTEM_ERROR_WORDS[code] ?? (typeof errno === 'number' ? getSystemErrorMap().get(errno)?.[1] : undefined) ?? 'the operating system refused';
  return `${words} (${code})`;
}
