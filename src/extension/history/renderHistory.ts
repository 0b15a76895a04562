// Earlier renders of each scene, kept in the extension's global storage so the preview can show and
// diff them after the working PNG has been overwritten. One folder per scene; each entry is a copy of
// the PNG (named by its recipe hash, so re-renders of the same recipe are stored once) plus a small JSON
// index. Bounded: at most `maxEntriesPerScene` per scene and `maxTotalBytes` overall, oldest dropped first.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface HistoryRecord {
  /** The recipe hash stored in the PNG (or a content hash for PNGs without one). */
  readonly key: string;
  /** Absolute path of the stored copy. */
  readonly file: string;
  /** Milliseconds since the epoch when it was recorded. */
  readonly date: number;
  readonly bytes: number;
  readonly seed?: string;
  /** The stored recipe (parsed), when the PNG had one. */
  readonly recipe?: Record<string, unknown>;
}

export interface RenderHistoryOptions {
  readonly maxEntriesPerScene?: number;
  readonly maxTotalBytes?: number;
}

interface IndexFile {
  readonly version: 1;
  readonly scene: string;
  readonly entries: Omit<HistoryRecord, 'file'>[];
}

const INDEX = 'index.json';

export class RenderHistory {
  private readonly maxEntriesPerScene: number;
  private readonly maxTotalBytes: number;
  // Serialises writes: two renders finishing together must not lose each other's index entry.
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly root: string,
    options: RenderHistoryOptions = {},
  ) {
    this.maxEntriesPerScene = options.maxEntriesPerScene ?? 24;
    this.maxTotalBytes = options.maxTotalBytes ?? 200 * 1024 * 1024;
  }

  /** The folder holding `scene`'s history (a hash of its URI: scene paths may be long or odd). */
  sceneDir(scene: string): string {
    return join(this.root, createHash('sha256').update(scene).digest('hex').slice(0, 24));
  }

  /** The scene's stored renders, newest first. */
  async list(scene: string): Promise<HistoryRecord[]> {
    const dir = this.sceneDir(scene);
    const index = await this.readIndex(dir, scene);
    return index.entries.map((e) => ({ ...e, file: join(dir, `${e.key}.png`) })).sort((a, b) => b.date - a.date);
  }

  /**
   * Copies `png` into the scene's history unless an entry with the same key exists; returns the record
   * (existing or new). `key` is the PNG's recipe hash when it has one.
   */
  record(scene: string, png: string, entry: { key?: string; seed?: string; recipe?: Record<string, unknown> }): Promise<HistoryRecord> {
    const run = this.queue.then(() => this.recordNow(scene, png, entry));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async recordNow(scene: string, png: string, entry: { key?: string; seed?: string; recipe?: Record<string, unknown> }): Promise<HistoryRecord> {
    const dir = this.sceneDir(scene);
    await mkdir(dir, { recursive: true });
    const key = sanitizeKey(entry.key ?? createHash('sha256').update(await readFile(png)).digest('hex'));
    const index = await this.readIndex(dir, scene);
    const existing = index.entries.find((e) => e.key === key);
    if (existing) return { ...existing, file: join(dir, `${key}.png`) };
    const file = join(dir, `${key}.png`);
    await copyFile(png, file);
    const { size } = await stat(file);
    const record = { key, date: Date.now(), bytes: size, ...(entry.seed ? { seed: entry.seed } : {}), ...(entry.recipe ? { recipe: entry.recipe } : {}) };
    const entries = [record, ...index.entries].sort((a, b) => b.date - a.date);
    for (const dropped of entries.splice(this.maxEntriesPerScene)) await rm(join(dir, `${dropped.key}.png`), { force: true });
    await this.writeIndex(dir, { version: 1, scene, entries });
    await this.enforceTotal();
    return { ...record, file };
  }

  /** Drops the oldest entries of all scenes until the total size fits the budget. */
  private async enforceTotal(): Promise<void> {
    const all: { dir: string; index: IndexFile; entry: IndexFile['entries'][number] }[] = [];
    for (const name of await readdir(this.root).catch(() => [] as string[])) {
      const dir = join(this.root, name);
      const index = await this.readIndex(dir, '');
      for (const entry of index.entries) all.push({ dir, index, entry });
    }
    let total = all.reduce((sum, e) => sum + e.entry.bytes, 0);
    if (total <= this.maxTotalBytes) return;
    const changed = new Map<string, IndexFile>();
    for (const victim of all.sort((a, b) => a.entry.date - b.entry.date)) {
      if (total <= this.maxTotalBytes) break;
      total -= victim.entry.bytes;
      await rm(join(victim.dir, `${victim.entry.key}.png`), { force: true });
      const current = changed.get(victim.dir) ?? victim.index;
      changed.set(victim.dir, { ...current, entries: current.entries.filter((e) => e.key !== victim.entry.key) });
    }
    for (const [dir, index] of changed) await this.writeIndex(dir, index);
  }

  private async readIndex(dir: string, scene: string): Promise<IndexFile> {
    try {
      const parsed = JSON.parse(await readFile(join(dir, INDEX), 'utf8')) as IndexFile;
      if (parsed.version === 1 && Array.isArray(parsed.entries)) return parsed;
    } catch {
      // Missing or damaged: start the scene's history afresh rather than fail the preview.
    }
    return { version: 1, scene, entries: [] };
  }

  private async writeIndex(dir: string, index: IndexFile): Promise<void> {
    const temp = join(dir, `${INDEX}.${process.pid}.tmp`);
    await writeFile(temp, JSON.stringify(index));
    await rename(temp, join(dir, INDEX));
  }
}

/** Keys become file names: keep hex digits and a few safe characters. */
function sanitizeKey(key: string): string {
  return key.replace(/^[a-z0-9]+:/i, '').replace(/[^A-Za-z0-9_-]/g, '').slice(0, 64) || 'unnamed';
}
