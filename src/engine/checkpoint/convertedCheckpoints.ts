// Converted checkpoints, cached by content: a scene may name an SD 1.x single-file checkpoint as its
// `model:`; the first render converts it (convert/convertCheckpoint.ts) into
// `<cache>/checkpoints/<sha256>/`, and every later use — on any path, by any copy of the same bytes —
// loads that folder like a native ONNX export. `index.json` maps a file's real path, size and
// modification time to its sha256, so the editor's per-keystroke check finds a converted folder with a
// stat instead of hashing gigabytes.
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FileHashCache } from '../hash/fileHashCache';
import { convertCheckpoint, type ConvertProgress } from './convert/convertCheckpoint';

const FOLDER = 'checkpoints';
const INDEX = 'index.json';

interface IndexEntry {
  readonly size: number;
  readonly mtimeMs: number;
  readonly sha256: string;
}

function indexPath(cacheDir: string): string {
  return join(cacheDir, FOLDER, INDEX);
}

function readIndex(cacheDir: string): Record<string, IndexEntry> {
  try {
    const value = JSON.parse(readFileSync(indexPath(cacheDir), 'utf8')) as unknown;
    return typeof value === 'object' && value !== null ? (value as Record<string, IndexEntry>) : {};
  } catch {
    return {};
  }
}

function writeIndex(cacheDir: string, index: Record<string, IndexEntry>): void {
  const path = indexPath(cacheDir);
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(index, null, 1)}\n`);
  renameSync(temp, path);
}

/** The converted folder of a content hash. */
export function convertedFolder(cacheDir: string, sha256: string): string {
  return join(cacheDir, FOLDER, sha256);
}

/**
 * The converted model folder of `file`, when this exact file (same real path, size and modification
 * time) was converted before; undefined otherwise. Only stats: cheap enough for every keystroke.
 */
export function findConvertedCheckpoint(file: string, cacheDir: string): string | undefined {
  try {
    const real = realpathSync(file);
    const s = statSync(real);
    const entry = readIndex(cacheDir)[real];
    if (!entry || entry.size !== s.size || entry.mtimeMs !== s.mtimeMs) return undefined;
    const folder = convertedFolder(cacheDir, entry.sha256);
    return existsSync(join(folder, 'model_index.json')) ? folder : undefined;
  } catch {
    return undefined;
  }
}

export interface EnsureConvertedOptions {
  readonly hashes: FileHashCache;
  readonly env?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ConvertProgress) => void;
}

/** The converted folder of `file`, converting it first when no copy of its bytes has been converted. */
export async function ensureConvertedCheckpoint(file: string, cacheDir: string, options: EnsureConvertedOptions): Promise<string> {
  const known = findConvertedCheckpoint(file, cacheDir);
  if (known) return known;
  const real = realpathSync(file);
  const s = statSync(real);
  const sha256 = await options.hashes.hash(real, options.signal);
  await options.hashes.save();
  const folder = convertedFolder(cacheDir, sha256);
  mkdirSync(join(cacheDir, FOLDER), { recursive: true });
  if (!existsSync(join(folder, 'model_index.json'))) {
    try {
      await convertCheckpoint(real, { out: folder, env: options.env, signal: options.signal, onProgress: options.onProgress });
    } catch (error) {
      // Another process may have converted the same bytes meanwhile: its folder is as good as ours.
      if (!existsSync(join(folder, 'model_index.json'))) throw error;
    }
  }
  writeIndex(cacheDir, { ...readIndex(cacheDir), [real]: { size: s.size, mtimeMs: s.mtimeMs, sha256 } });
  return folder;
}
