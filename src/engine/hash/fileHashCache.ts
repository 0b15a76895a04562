// Content hashes of files, remembered across runs by (absolute path, size, mtime) in a JSON file under a
// cache folder the caller chooses (e.g. ~/.cache/imgprompt/hashes.json), so checking a hundred figures
// against a 4 GB model hashes it once. The cache file is written atomically (temp file + rename) and
// merged with what other processes wrote meanwhile; a corrupt or foreign cache file is ignored, never fatal.
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InputError } from '../errors';
import { sha256File } from './sha256File';

export const HASH_CACHE_FILE_NAME = 'hashes.json';
const FORMAT_VERSION = 1;

interface CacheEntry {
  readonly size: number;
  readonly mtimeMs: number;
  readonly sha256: string;
}

interface CacheFile {
  version: number;
  entries: Record<string, CacheEntry>;
}

export interface FileHashCacheStats {
  readonly hits: number;
  readonly misses: number;
}

function isEntry(value: unknown): value is CacheEntry {
  const e = value as CacheEntry;
  return (
    typeof e === 'object' &&
    e !== null &&
    Number.isFinite(e.size) &&
    Number.isFinite(e.mtimeMs) &&
    typeof e.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(e.sha256)
  );
}

async function readCacheFile(path: string): Promise<Map<string, CacheEntry>> {
  const entries = new Map<string, CacheEntry>();
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return entries; // missing, unreadable or corrupt: start afresh
  }
  const file = parsed as CacheFile;
  if (typeof file !== 'object' || file === null || file.version !== FORMAT_VERSION || typeof file.entries !== 'object' || file.entries === null) {
    return entries;
  }
  for (const [path, entry] of Object.entries(file.entries)) if (isEntry(entry)) entries.set(path, entry);
  return entries;
}

export class FileHashCache {
  private counters = { hits: 0, misses: 0 };
  private readonly pending = new Map<string, Promise<string>>();
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;

  private constructor(
    /** The JSON file, or undefined for an in-memory cache. */
    readonly cacheFile: string | undefined,
    private readonly entries: Map<string, CacheEntry>,
  ) {}

  /** Opens the cache in `cacheDir` (created on first save); without a folder the cache lives in memory only. */
  static async open(cacheDir?: string): Promise<FileHashCache> {
    if (cacheDir === undefined) return new FileHashCache(undefined, new Map());
    const cacheFile = join(resolve(cacheDir), HASH_CACHE_FILE_NAME);
    return new FileHashCache(cacheFile, await readCacheFile(cacheFile));
  }

  get stats(): FileHashCacheStats {
    return { ...this.counters };
  }

  /** SHA-256 (hex) of the file's content; computed only when its size or mtime changed since last time. */
  async hash(path: string, signal?: AbortSignal): Promise<string> {
    const absolute = resolve(path);
    const inFlight = this.pending.get(absolute);
    if (inFlight) return inFlight;
    const work = this.compute(absolute, signal).finally(() => this.pending.delete(absolute));
    this.pending.set(absolute, work);
    return work;
  }

  /** The remembered SHA-256 of the file when its size and mtime are unchanged (no hashing); else undefined. */
  async known(path: string): Promise<string | undefined> {
    const absolute = resolve(path);
    const cached = this.entries.get(absolute);
    if (!cached) return undefined;
    const now = await statFile(absolute).catch(() => undefined);
    return now && now.size === cached.size && now.mtimeMs === cached.mtimeMs ? cached.sha256 : undefined;
  }

  /** Writes the cache file if anything was added (atomic; merges entries other processes saved). */
  async save(): Promise<void> {
    this.saving = this.saving.then(() => this.write());
    return this.saving;
  }

  private async compute(absolute: string, signal?: AbortSignal): Promise<string> {
    const before = await statFile(absolute);
    const cached = this.entries.get(absolute);
    if (cached && cached.size === before.size && cached.mtimeMs === before.mtimeMs) {
      this.counters.hits++;
      return cached.sha256;
    }
    this.counters.misses++;
    const sha256 = await sha256File(absolute, signal);
    const after = await statFile(absolute);
    // A file written while we read it has no trustworthy hash to remember.
    if (after.size === before.size && after.mtimeMs === before.mtimeMs) {
      this.entries.set(absolute, { size: before.size, mtimeMs: before.mtimeMs, sha256 });
      this.dirty = true;
      if (this.cacheFile) await this.save();
    }
    return sha256;
  }

  private async write(): Promise<void> {
    if (!this.cacheFile || !this.dirty) return;
    this.dirty = false;
    const merged = await readCacheFile(this.cacheFile);
    for (const [path, entry] of this.entries) merged.set(path, entry);
    const file: CacheFile = { version: FORMAT_VERSION, entries: Object.fromEntries([...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
    const temp = `${this.cacheFile}.${process.pid}.${Date.now()}.tmp`;
    try {
      await mkdir(resolve(this.cacheFile, '..'), { recursive: true });
      await writeFile(temp, `${JSON.stringify(file)}\n`);
      await rename(temp, this.cacheFile);
    } catch {
      // A cache that cannot be written only costs time on the next run; never fail a render for it.
      this.dirty = true;
      await rm(temp, { force: true }).catch(() => undefined);
    }
  }
}

async function statFile(path: string): Promise<{ size: number; mtimeMs: number }> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new InputError('expected a file, found a folder', path);
    return { size: s.size, mtimeMs: s.mtimeMs };
  } catch (error) {
    if (error instanceof InputError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const e = new InputError(code === 'ENOENT' ? 'file not found' : `cannot read the file: ${(error as Error).message}`, path);
    e.cause = error;
    throw e;
  }
}
