// The project's own model and LoRA files in imgprompt.lock (`local`, by project-relative path): their size
// and sha256 so `verify` can tell when one changed, and what Civitai's by-hash lookup says of the bytes
// (licence, base model, version). A file is hashed when it is first locked; a locked entry keeps its
// hash (verify reports drift; `models pull` re-locks a changed file) and only gains Civitai facts once a lookup (allowed, or from the cache)
// has them. The lock never holds an absolute path.
import { statSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { lookupCivitaiByHash, type CivitaiLookupOptions } from './civitai';
import { readLockfile, writeLockfile, type LocalLockEntry, type Lockfile } from './lockfile';
import { sha256OfFile } from './verifyLocked';

export interface LockLocalOptions {
  /** How Civitai is asked (allowNetwork false: its cache alone); no lookups without it. */
  civitai?: CivitaiLookupOptions;
  /** Re-hash locked files and re-lock those whose bytes changed (`imgprompt models pull`). */
  refresh?: boolean;
  signal?: AbortSignal;
  onNote?: (text: string) => void;
}

/** The project-relative POSIX path of `path`, or undefined when it is outside the project. */
export function projectRelative(projectRoot: string, path: string): string | undefined {
  const rel = relative(projectRoot, path);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
}

/** Adds the files (absolute paths inside the project) to imgprompt.lock's `local`; true when it was written. */
export async function lockLocalFiles(projectRoot: string, files: readonly string[], options: LockLocalOptions = {}): Promise<{ lock: Lockfile; lockWritten: boolean }> {
  const lock = readLockfile(projectRoot);
  const local: Record<string, LocalLockEntry> = { ...(lock.local ?? {}) };
  let changed = false;
  for (const path of files) {
    const name = projectRelative(projectRoot, path);
    if (name === undefined) continue;
    let entry: LocalLockEntry | undefined = local[name];
    if (entry && options.refresh) {
      const size = statSync(path, { throwIfNoEntry: false })?.size;
      if (size !== undefined && (size !== entry.size || (await sha256OfFile(path, options.signal)) !== entry.sha256)) {
        options.onNote?.(`${name} changed since it was locked: locked again`);
        entry = undefined;
      }
    }
    if (!entry) {
      let size: number;
      try {
        const s = statSync(path);
        if (!s.isFile()) continue;
        size = s.size;
      } catch {
        continue; // a missing file is the scene check's to report
      }
      entry = { size, sha256: await sha256OfFile(path, options.signal) };
      changed = true;
    }
    if (options.civitai && entry.civitai === undefined) {
      try {
        const found = await lookupCivitaiByHash(entry.sha256, { ...options.civitai, signal: options.signal });
        if (found) {
          entry = { ...entry, civitai: found.air ?? `civitai:${found.versionId}`, ...(found.baseModel ? { baseModel: found.baseModel } : {}), ...(found.license ? { license: found.license } : {}) };
          changed = true;
        }
      } catch (error) {
        if (options.signal?.aborted) throw error;
        options.onNote?.(`Civitai lookup of ${name} failed (${(error as Error).message}); locked without its Civitai facts`);
      }
    }
    local[name] = entry;
  }
  if (!changed) return { lock, lockWritten: false };
  const next = { ...lock, local };
  return { lock: next, lockWritten: writeLockfile(projectRoot, next) };
}
