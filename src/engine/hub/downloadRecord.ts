// What imgprompt itself downloaded into shared caches, so `imgprompt models gc` removes only those blobs
// and never a file diffusers, ComfyUI or the user put there. One JSON array in imgprompt's own cache
// folder, rewritten atomically.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { readTextBounded } from '../io/sceneFileSystem';

export interface DownloadRecordEntry {
  /** The hub cache folder the blob went into. */
  cacheDir: string;
  repo: string;
  /** The blob's file name (its etag). */
  blob: string;
}

export function readDownloadRecord(path: string): DownloadRecordEntry[] {
  const text = readTextBounded(path, 64 * 1024 * 1024);
  if (text === undefined) return [];
  try {
    const raw: unknown = JSON.parse(text);
    if (!Array.isArray(raw)) return [];
    return raw.filter(
      (e): e is DownloadRecordEntry => typeof e === 'object' && e !== null && typeof e.cacheDir === 'string' && typeof e.repo === 'string' && typeof e.blob === 'string' && /^[0-9a-f]{40,64}$/.test(e.blob),
    );
  } catch {
    return [];
  }
}

export function writeDownloadRecord(path: string, entries: readonly DownloadRecordEntry[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(temp, `${JSON.stringify(entries, null, 1)}\n`);
  renameSync(temp, path);
}

export function recordDownload(path: string, entry: DownloadRecordEntry): void {
  const entries = readDownloadRecord(path);
  if (!entries.some((e) => e.cacheDir === entry.cacheDir && e.repo === entry.repo && e.blob === entry.blob)) entries.push(entry);
  writeDownloadRecord(path, entries);
}
