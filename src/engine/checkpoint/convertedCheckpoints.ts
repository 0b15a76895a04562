// Converted checkpoints, cached by content: a scene may name an SD 1.x single-file checkpoint or a
// diffusers folder of safetensors as its `model:`; the first render converts it (convert/) into
// `<cache>/checkpoints/<sha256>/`, and every later use — on any path, of any copy of the same bytes —
// loads that folder like a native ONNX export. The key is the file's sha256 (for a folder: the sha256 of
// its input files' names and hashes). `index.json` maps each source's real path to a fingerprint (size
// and modification time of each input file) and its key, so the editor's per-keystroke check finds a
// converted folder with stats instead of hashing gigabytes.
//
// A converted folder's float16 weights may be hard links to the source file (convert/convertCheckpoint.ts):
// the folder then shares the user's bytes, and an in-place edit of that file (same inode) would change
// what the folder renders while its key still names the old content — under this path, or under another
// copy of the old content. The folder records each link's identity (inode, size, mtime) when it is made;
// a folder whose links no longer match is removed and treated as absent, so the next use converts again.
// The key stays the content's sha256 alone: conversions are numerically exact, so folders made by any
// converter version (links or copies) render the same.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { FileHashCache } from '../hash/fileHashCache';
import { readTextBounded } from '../io/sceneFileSystem';
import { convertCheckpoint, LINKED_SOURCES_FILE, type ConvertProgress, type LinkRecord } from './convert/convertCheckpoint';
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

/** True when every hard link the folder recorded still has the identity it had at conversion (no record: true). */
function linksIntact(folder: string): boolean {
  try {
    const text = readTextBounded(join(folder, LINKED_SOURCES_FILE), 1024 * 1024);
    if (text === undefined) return true;
    const links = (JSON.parse(text) as { links?: unknown }).links;
    if (!Array.isArray(links)) return false;
    return (links as LinkRecord[]).every((l) => {
      if (typeof l?.path !== 'string' || l.path.split('/').includes('..')) return false;
      const s = statSync(join(folder, l.path));
      return s.ino === l.ino && s.size === l.size && s.mtimeMs === l.mtimeMs;
    });
  } catch {
    return false;
  }
}

/**
 * True when `folder` is a complete converted folder whose links are intact; a folder whose linked source
 * was changed in place is removed (its weights are no longer the content its key names).
 */
function usableFolder(folder: string): boolean {
  if (!existsSync(join(folder, 'model_index.json'))) return false;
  if (linksIntact(folder)) return true;
  rmSync(folder, { recursive: true, force: true });
  return false;
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
    return usableFolder(folder) ? folder : undefined;
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

/** The content key of a source: its file's sha256, or for a folder the sha256 of its inputs' names and hashes. */
async function contentKey(real: string, folderSource: boolean, inputs: readonly string[], hashes: FileHashCache, signal?: AbortSignal): Promise<string> {
  if (!folderSource) return hashes.hash(real, signal);
  const digest = createHash('sha256');
  for (const f of inputs) digest.update(`${relative(real, f).split(sep).join('/')}\t${await hashes.hash(f, signal)}\n`);
  return digest.digest('hex');
}

/**
 * The converted folder of `source`, converting it first when no copy of its content has been converted.
 * When the content key must be computed (a file not hashed before), hashing and converting run at once —
 * the conversion into a folder of its own, renamed to the key's folder once both are done — so a first
 * use costs about the longer of the two rather than their sum. The conversion's progress is held back
 * until the key is known: when its folder exists already (the same bytes converted under another path)
 * the conversion is stopped unseen, and that folder is used.
 */
export async function ensureConvertedCheckpoint(source: string, cacheDir: string, options: EnsureConvertedOptions): Promise<string> {
  const known = findConvertedCheckpoint(source, cacheDir);
  if (known) return known;
  const real = realpathSync(source);
  const folderSource = statSync(real).isDirectory();
  const inputs = inputsOf(real);
  mkdirSync(join(cacheDir, FOLDER), { recursive: true });
  const convert = (out: string, signal: AbortSignal | undefined, onProgress = options.onProgress) =>
    folderSource ? convertDiffusersFolder(real, { out, signal, onProgress }) : convertCheckpoint(real, { out, env: options.env, signal, onProgress });
  const remembered = folderSource ? undefined : await options.hashes.known(real);
  let sha256: string;
  if (remembered !== undefined || folderSource) {
    sha256 = remembered ?? (await contentKey(real, folderSource, inputs, options.hashes, options.signal));
    await options.hashes.save();
    const folder = convertedFolder(cacheDir, sha256);
    if (!usableFolder(folder)) await convertOrReuse(folder, () => convert(folder, options.signal));
  } else {
    const staging = join(cacheDir, FOLDER, `converting-${process.pid}-${Date.now()}`);
    // A failed hash, or one whose content is converted already, stops the conversion.
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const held: ConvertProgress[] = [];
    let report: ((progress: ConvertProgress) => void) | undefined;
    const hashing = contentKey(real, false, inputs, options.hashes, options.signal).then(
      (key) => {
        if (usableFolder(convertedFolder(cacheDir, key))) {
          stop.abort();
        } else {
          report = (progress) => options.onProgress?.(progress);
          for (const progress of held.splice(0)) report(progress);
        }
        return key;
      },
      (error: unknown) => {
        stop.abort();
        throw error;
      },
    );
    const converting = convert(staging, signal, (progress) => (report ? report(progress) : held.push(progress)));
    const [hashed, converted] = await Promise.allSettled([hashing, converting]);
    try {
      if (hashed.status === 'rejected') throw hashed.reason;
      sha256 = hashed.value;
      await options.hashes.save();
      const folder = convertedFolder(cacheDir, sha256);
      if (!usableFolder(folder)) {
        if (converted.status === 'rejected') throw converted.reason;
        try {
          renameSync(staging, folder);
        } catch (error) {
          // Another process renamed its conversion of the same content into place first: as good as ours.
          if (!existsSync(join(folder, 'model_index.json'))) throw error;
        }
      }
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  writeIndex(cacheDir, { ...readIndex(cacheDir), [real]: { fingerprint: fingerprint(inputs), sha256 } });
  return convertedFolder(cacheDir, sha256);
}

/** Runs `convert` into `folder`; when it fails but another process has made the folder meanwhile, that one is used. */
async function convertOrReuse(folder: string, convert: () => Promise<unknown>): Promise<void> {
  try {
    await convert();
  } catch (error) {
    if (!existsSync(join(folder, 'model_index.json'))) throw error;
  }
}
