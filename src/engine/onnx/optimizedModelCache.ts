// A disk cache of onnxruntime's optimized graphs, so a model's second load skips graph optimization.
// Each entry is a folder named by a SHA-256 key over everything the optimized graph depends on: the
// source files' identities (path, size, mtime) and model.onnx's content, onnxruntime's version, the
// optimization level, deterministic compute, the CPU (level 'all' bakes in CPU-specific NCHWc layouts)
// and a caller-supplied key for any change made to the bytes in memory. Entries are written into a
// temporary folder and renamed into place with a manifest of their files' sizes (and model.onnx's hash),
// which every lookup checks, so a half-written or damaged entry is never trusted. Nothing here is fatal:
// a cache that cannot be read or written only costs the optimization time again.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, statfs, utimes, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import type { OnnxModelFiles } from './onnxModelFiles';

const FORMAT_VERSION = 1;
export const OPTIMIZED_MODEL_FILE = 'model.onnx';
export const OPTIMIZED_DATA_FILE = 'model.onnx_data';
const MANIFEST_FILE = 'manifest.json';
const TEMP_PREFIX = '.tmp-';
/** A manifest larger than this is not ours; never read it whole. */
const MAX_MANIFEST_BYTES = 64 * 1024;
/**
 * Models that keep more weight bytes than this inside model.onnx are not cached: the caller has read them
 * into memory already, and a cached load reads them again from the entry, which costs more than the
 * optimization saves. Full-size SD 1.5 (2 threads): text encoder (492 MB inline) 723 ms without the cache,
 * 878 ms cached; VAE decoder (198 MB) 522 vs 584 ms; UNet (weights in external data) 9.4 vs 1.7 s.
 */
export const MAX_INLINE_BYTES_TO_CACHE = 64 * 1024 * 1024;
/** Free space kept beyond an entry's estimated size before writing one. */
const FREE_SPACE_MARGIN_BYTES = 256 * 1024 * 1024;

export interface OptimizedModelKeyParts {
  readonly files: OnnxModelFiles;
  readonly runtimeVersion: string;
  readonly graphOptimizationLevel: string;
  readonly deterministic: boolean;
  /**
   * Identifies any change made to the files' bytes in memory (a weight patch's key, a graph transform's
   * version). Required when external weights were read into memory; without it nothing is cached.
   */
  readonly transformKey?: string;
}

let hardware: string | undefined;

/** The CPU the optimized graph was made for: platform, architecture, model name and (Linux) feature flags. */
export function hardwareKey(): string {
  if (hardware === undefined) {
    let flags = '';
    if (process.platform === 'linux') {
      try {
        flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? '';
      } catch {
        flags = '';
      }
    }
    hardware = `${process.platform};${process.arch};${cpus()[0]?.model ?? '?'};${flags}`;
  }
  return hardware;
}

/**
 * The cache key (64 hex digits), or undefined when the session is not to be cached: no optimization to
 * save, weights mostly inline in a large model.onnx (MAX_INLINE_BYTES_TO_CACHE), or external weights held
 * in memory (possibly patched) or in a patch's overlay (lora/rangePatch.ts: a fresh temporary folder per
 * patch, so its key would never be hit again and each load would only write an entry) without a
 * transformKey naming them.
 */
export function optimizedModelKey(parts: OptimizedModelKeyParts): string | undefined {
  const { files } = parts;
  if (parts.graphOptimizationLevel === 'disabled') return undefined;
  if (files.modelBytes.length > MAX_INLINE_BYTES_TO_CACHE) return undefined;
  if ((files.externalData.some((f) => f.data !== undefined) || files.externalDataFolder !== undefined) && parts.transformKey === undefined) return undefined;
  const identity = {
    format: FORMAT_VERSION,
    runtime: parts.runtimeVersion,
    level: parts.graphOptimizationLevel,
    deterministic: parts.deterministic,
    hardware: hardwareKey(),
    model: { path: resolve(files.modelPath), size: files.modelIdentity.size, mtimeMs: files.modelIdentity.mtimeMs },
    // The bytes the session is made from, which a transform in memory may have changed.
    graphSha256: createHash('sha256').update(files.modelBytes).digest('hex'),
    external: files.externalData.map((f) => ({ location: f.location, path: resolve(f.path), size: f.size, mtimeMs: f.mtimeMs })),
    transform: parts.transformKey ?? null,
  };
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex');
}

interface ManifestFile {
  readonly name: string;
  readonly size: number;
  /** Only for the graph file (small); the weights file is checked by size. */
  readonly sha256?: string;
}

interface Manifest {
  readonly version: number;
  readonly key: string;
  readonly source: string;
  readonly files: readonly ManifestFile[];
}

function isManifest(value: unknown, key: string): value is Manifest {
  const m = value as Manifest;
  return (
    typeof m === 'object' &&
    m !== null &&
    m.version === FORMAT_VERSION &&
    m.key === key &&
    Array.isArray(m.files) &&
    m.files.some((f) => f?.name === OPTIMIZED_MODEL_FILE) &&
    m.files.every(
      (f) =>
        typeof f === 'object' &&
        f !== null &&
        (f.name === OPTIMIZED_MODEL_FILE || f.name === OPTIMIZED_DATA_FILE) &&
        Number.isSafeInteger(f.size) &&
        f.size >= 0 &&
        (f.sha256 === undefined || (typeof f.sha256 === 'string' && /^[0-9a-f]{64}$/.test(f.sha256))),
    )
  );
}

/** A validated entry: create the session from `modelPath` (its weights file sits next to it). */
export interface CachedOptimizedModel {
  readonly key: string;
  readonly dir: string;
  readonly modelPath: string;
}

/** A folder reserved for onnxruntime to write an optimized model into, then commit or abandon. */
export interface PendingOptimizedModel {
  readonly key: string;
  /** Where onnxruntime writes the optimized graph (optimizedModelFilePath). */
  readonly modelPath: string;
  /** The name, next to modelPath, for its external initializers. */
  readonly dataFileName: string;
  /** Records the manifest and moves the entry into place; false if it was not stored (another process won, or an error). */
  commit(source: string): Promise<boolean>;
  /** Deletes whatever was written. */
  abandon(): Promise<void>;
}

export interface PruneOptions {
  /** Keep the most recently used entries that fit in this many bytes. */
  readonly maxBytes: number;
  /** Temporary folders older than this are left-overs of a crashed write. Default one hour. */
  readonly staleTempMs?: number;
}

function isKey(key: string): boolean {
  return /^[0-9a-f]{64}$/.test(key);
}

export class OptimizedModelCache {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /** The entry for `key` if it is complete and matches its manifest; undefined otherwise. */
  async lookup(key: string): Promise<CachedOptimizedModel | undefined> {
    if (!isKey(key)) return undefined;
    const dir = join(this.dir, key);
    const manifestPath = join(dir, MANIFEST_FILE);
    try {
      const ms = await stat(manifestPath);
      if (!ms.isFile() || ms.size > MAX_MANIFEST_BYTES) return undefined;
      const manifest: unknown = JSON.parse(await readFile(manifestPath, 'utf8'));
      if (!isManifest(manifest, key)) return undefined;
      for (const f of manifest.files) {
        const path = join(dir, f.name);
        const s = await stat(path);
        if (!s.isFile() || s.size !== f.size) return undefined;
        if (f.sha256 !== undefined && createHash('sha256').update(await readFile(path)).digest('hex') !== f.sha256) return undefined;
      }
      // Marks the entry as recently used, for prune().
      const now = new Date();
      await utimes(manifestPath, now, now).catch(() => undefined);
      return { key, dir, modelPath: join(dir, OPTIMIZED_MODEL_FILE) };
    } catch {
      return undefined;
    }
  }

  /**
   * A temporary folder to write the entry into, or undefined when the cache folder cannot be written or
   * lacks room for `estimatedBytes` (the source files' size is a fair estimate).
   */
  async reserve(key: string, estimatedBytes = 0): Promise<PendingOptimizedModel | undefined> {
    if (!isKey(key)) return undefined;
    let temp: string;
    try {
      await mkdir(this.dir, { recursive: true });
      const fsStats = await statfs(this.dir);
      if (fsStats.bavail * fsStats.bsize < estimatedBytes + FREE_SPACE_MARGIN_BYTES) return undefined;
      temp = join(this.dir, `${TEMP_PREFIX}${key.slice(0, 16)}-${process.pid}-${randomBytes(4).toString('hex')}`);
      await mkdir(temp);
    } catch {
      return undefined;
    }
    const final = join(this.dir, key);
    const abandon = (): Promise<void> => rm(temp, { recursive: true, force: true }).catch(() => undefined);
    return {
      key,
      modelPath: join(temp, OPTIMIZED_MODEL_FILE),
      dataFileName: OPTIMIZED_DATA_FILE,
      abandon,
      commit: async (source: string): Promise<boolean> => {
        try {
          const files: ManifestFile[] = [];
          for (const name of [OPTIMIZED_MODEL_FILE, OPTIMIZED_DATA_FILE]) {
            const path = join(temp, name);
            const s = await stat(path).catch(() => undefined);
            if (!s) {
              if (name === OPTIMIZED_MODEL_FILE) throw new Error('onnxruntime wrote no optimized model');
              continue; // no initializer was large enough to go to the weights file
            }
            const sha256 = name === OPTIMIZED_MODEL_FILE ? createHash('sha256').update(await readFile(path)).digest('hex') : undefined;
            files.push({ name, size: s.size, ...(sha256 ? { sha256 } : {}) });
          }
          const manifest: Manifest = { version: FORMAT_VERSION, key, source, files };
          await writeFile(join(temp, MANIFEST_FILE), `${JSON.stringify(manifest)}\n`);
          try {
            await rename(temp, final);
          } catch (error) {
            // A damaged entry is in the way: replace it. A valid one (another process's) is kept.
            if ((await this.lookup(key)) !== undefined) throw error;
            await this.remove(key);
            await rename(temp, final);
          }
          return true;
        } catch {
          // Another process stored the same entry first, or the write failed: keep nothing of ours.
          await abandon();
          return false;
        }
      },
    };
  }

  /** Deletes an entry (e.g. one onnxruntime could not load). */
  async remove(key: string): Promise<void> {
    if (!isKey(key)) return;
    // Renamed first so a concurrent lookup never sees a partly deleted entry as complete.
    const doomed = join(this.dir, `${TEMP_PREFIX}rm-${key.slice(0, 16)}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(join(this.dir, key), doomed);
    } catch {
      return;
    }
    await rm(doomed, { recursive: true, force: true }).catch(() => undefined);
  }

  /**
   * Deletes least recently used entries until the rest fit in `maxBytes`, and left-over temporary folders.
   * Returns the bytes deleted.
   */
  async prune(options: PruneOptions): Promise<number> {
    const staleMs = options.staleTempMs ?? 60 * 60 * 1000;
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0;
    }
    const entries: { name: string; bytes: number; usedMs: number }[] = [];
    let freed = 0;
    for (const name of names) {
      const path = join(this.dir, name);
      if (name.startsWith(TEMP_PREFIX)) {
        const s = await stat(path).catch(() => undefined);
        if (s && Date.now() - s.mtimeMs > staleMs) {
          const bytes = await folderBytes(path);
          await rm(path, { recursive: true, force: true }).catch(() => undefined);
          freed += bytes;
        }
        continue;
      }
      if (!isKey(name)) continue;
      const m = await stat(join(path, MANIFEST_FILE)).catch(() => undefined);
      entries.push({ name, bytes: await folderBytes(path), usedMs: m?.mtimeMs ?? 0 });
    }
    entries.sort((a, b) => b.usedMs - a.usedMs);
    let kept = 0;
    let full = false;
    for (const e of entries) {
      if (!full && kept + e.bytes <= options.maxBytes) {
        kept += e.bytes;
        continue;
      }
      full = true; // everything older than the first entry that does not fit goes
      await this.remove(e.name);
      freed += e.bytes;
    }
    return freed;
  }
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  try {
    for (const name of await readdir(dir)) {
      const s = await stat(join(dir, name)).catch(() => undefined);
      if (s?.isFile()) total += s.size;
    }
  } catch {
    return 0;
  }
  return total;
}
