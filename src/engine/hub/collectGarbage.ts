// `models gc`: deletes blobs imgprompt downloaded (and only those: the download record lists them) that no
// kept lockfile references, with the snapshot links that point at them. Blobs another tool wrote are
// never in the record, so they are never touched, even when unreferenced.
import { existsSync, lstatSync, readdirSync, readlinkSync, rmSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { repoCachePaths } from './hubCache';
import { readDownloadRecord, writeDownloadRecord, type DownloadRecordEntry } from './downloadRecord';
import type { Lockfile } from './lockfile';

export interface GcResult {
  removed: DownloadRecordEntry[];
  freedBytes: number;
  kept: number;
}

/** Blob names the lockfiles' files link to in the cache. */
function referencedBlobs(locks: readonly Lockfile[], cacheDir: string): Set<string> {
  const keep = new Set<string>();
  for (const lock of locks) {
    for (const entry of Object.values(lock.models)) {
      if (entry.source !== 'huggingface') continue;
      const snapshot = join(repoCachePaths(cacheDir, entry.repo).snapshots, entry.commit);
      for (const file of Object.keys(entry.files)) {
        try {
          keep.add(`${entry.repo}\0${basename(readlinkSync(join(snapshot, ...file.split('/'))))}`);
        } catch {
          // not in the cache: nothing to keep
        }
      }
    }
  }
  return keep;
}

/** Snapshot links of the repository that point at `blob`. */
function linksTo(snapshots: string, blob: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of existsSync(dir) ? readdirSync(dir) : []) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (st.isDirectory()) walk(path);
      else if (st.isSymbolicLink() && basename(readlinkSync(path)) === blob) found.push(path);
    }
  };
  walk(snapshots);
  return found;
}

export function collectGarbage(recordFile: string, cacheDir: string, keep: readonly Lockfile[], dryRun = false): GcResult {
  const record = readDownloadRecord(recordFile);
  const referenced = referencedBlobs(keep, cacheDir);
  const removed: DownloadRecordEntry[] = [];
  const remaining: DownloadRecordEntry[] = [];
  let freedBytes = 0;
  for (const entry of record) {
    if (entry.cacheDir !== cacheDir || referenced.has(`${entry.repo}\0${entry.blob}`)) {
      remaining.push(entry);
      continue;
    }
    const paths = repoCachePaths(cacheDir, entry.repo);
    const blob = join(paths.blobs, entry.blob);
    if (!existsSync(blob)) {
      removed.push(entry); // already gone: forget it
      continue;
    }
    freedBytes += lstatSync(blob).size;
    removed.push(entry);
    if (dryRun) continue;
    for (const link of linksTo(paths.snapshots, entry.blob)) {
      unlinkSync(link);
      // Empty folders left in the snapshot go too (never the snapshot root of another tool's files).
      for (let dir = dirname(link); dir.startsWith(paths.snapshots) && dir !== paths.snapshots && readdirSync(dir).length === 0; dir = dirname(dir)) rmSync(dir, { recursive: true });
    }
    unlinkSync(blob);
  }
  if (!dryRun) writeDownloadRecord(recordFile, remaining);
  return { removed, freedBytes, kept: remaining.length };
}
