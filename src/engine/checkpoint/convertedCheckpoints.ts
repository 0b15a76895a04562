// Converted checkpoints, cached by content: a scene may name an SD 1.x single-file checkpoint or a
// diffusers folder of safetensors as its `model:`; the first render converts it (convert/) into
// `<cache>/checkpoints/<sha256>/`, and every later use — on any path, of any copy of the same bytes —
// loads that folder like a native ONNX export. The key is the file's sha256 (for a folder: the sha256 of
// its input files' names and hashes). `index.json` maps each source's real path to a fingerprint (size
// and modification time of each input file) and its key, so the editor's per-keystroke check finds a
// converted folder with stats instead of hashing gigabytes.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { FileHashCache } from '../hash/fileHashCache';
import { convertCheckpoint, type ConvertProgress } from './convert/convertCheckpoint';
import { convertDiffusersFolder, diffusersFolderInputs } from './convert/convertDiffusers';

const FOLDER = 'checkpoints';
const INDEX = 'index.json';

interface IndexEntry {
  /** `size:mtime` of each input file, in order. */
  readonly fingerprint: string;
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

/** The files a source's conversion reads: the file itself, or a diffusers folder's inputs. */
function inputsOf(real: string): string[] {
  return statSync(real).isDirectory() ? diffusersFolderInputs(real) : [real];
}

function fingerprint(files: readonly string[]): string {
  return files
    .map((f) => {
      const s = statSync(f);
      return `${f}:${s.size}:${s.mtimeMs}`;
    })
    .join('|');
}

/**
 * The converted model folder of `source` (a single-file checkpoint or a diffusers folder), when its
 * exact inputs were converted before; undefined otherwise. Only stats: cheap enough for every keystroke.
 */
export function findConvertedCheckpoint(source: string, cacheDir: string): string | undefined {
  try {
    const real = realpathSync(source);
    const entry = readIndex(cacheDir)[real];
    if (!entry || entry.fingerprint !== fingerprint(inputsOf(real))) return undefined;
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

/** The converted folder of `source`, converting it first when no copy of its content has been converted. */
export async function ensureConvertedCheckpoint(source: string, cacheDir: string, options: EnsureConvertedOptions): Promise<string> {
  const known = findConvertedCheckpoint(source, cacheDir);
  if (known) return known;
  const real = realpathSync(source);
  const folderSource = statSync(real).isDirectory();
  const inputs = inputsOf(real);
  let sha256: string;
  if (folderSource) {
    const digest = createHash('sha256');
    for (const f of inputs) digest.update(`${relative(real, f).split(sep).join('/')}\t${await options.hashes.hash(f, options.signal)}\n`);
    sha256 = digest.digest('hex');
  } else {
    sha256 = await options.hashes.hash(real, options.signal);
  }
  await options.hashes.save();
  const folder = convertedFolder(cacheDir, sha256);
  mkdirSync(join(cacheDir, FOLDER), { recursive: true });
  if (!existsSync(join(folder, 'model_index.json'))) {
    try {
      if (folderSource) await convertDiffusersFolder(real, { out: folder, signal: options.signal, onProgress: options.onProgress });
      else await convertCheckpoint(real, { out: folder, env: options.env, signal: options.signal, onProgress: options.onProgress });
    } catch (error) {
      // Another process may have converted the same content meanwhile: its folder is as good as ours.
      if (!existsSync(join(folder, 'model_index.json'))) throw error;
    }
  }
  writeIndex(cacheDir, { ...readIndex(cacheDir), [real]: { fingerprint: fingerprint(inputs), sha256 } });
  return folder;
}
