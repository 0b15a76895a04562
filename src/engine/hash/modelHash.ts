// The content hash of a model folder: SHA-256 over its pixel-affecting files' hashes in a fixed order,
// so any changed weight, config or tokenizer file changes it, and a moved or re-timestamped copy does not.
// Also the short AUTOMATIC1111-style "Model hash" (first 10 hex digits of the SHA-256 of the weights file,
// A1111's "AutoV2" hash); for a diffusers folder we take the UNet's weights, which is our convention since
// A1111 hashes a single checkpoint file.
import { readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative as relativePath, sep } from 'node:path';
import { InputError, throwIfAborted } from '../errors';
import type { FileHashCache } from './fileHashCache';
import { sha256Hex } from './sha256File';

/**
 * Folders inside a model folder that do not enter its hash: adapters a scene declares (and that are
 * hashed separately when used), and the step-preview decoder, which never changes the final pixels.
 */
const ADAPTER_FOLDERS = new Set(['loras', 'controlnet', 'preview_decoder']);
/** Documentation files that never change pixels. */
const DOC_FILE = /^(readme|license|licence|notice|changelog)(\..*)?$|\.md$/i;

export interface HashedFile {
  /** Path relative to the model folder, with '/' separators. */
  readonly path: string;
  readonly sha256: string;
}

export interface ModelHash {
  /** SHA-256 (hex) over `${path}\t${sha256}\n` for every file, sorted by path. */
  readonly sha256: string;
  /** First 10 hex digits of the main weights file's SHA-256 (A1111 "Model hash"). */
  readonly shortHash: string;
  /** The file the short hash is of, relative to the folder. */
  readonly mainWeights: string;
  readonly files: readonly HashedFile[];
}

/**
 * The files of a model folder that affect pixels: everything except hidden files, documentation, and
 * the adapter folders `loras/` and `controlnet/`. Sorted by relative path (code-unit order).
 */
export async function listModelFiles(modelDir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(relative: string): Promise<void> {
    const entries = await readdir(join(modelDir, relative), { withFileTypes: true });
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!(relative === '' && ADAPTER_FOLDERS.has(entry.name))) await walk(path);
      } else if ((entry.isFile() || (entry.isSymbolicLink() && (await isCacheBlobLink(join(modelDir, path))))) && !DOC_FILE.test(entry.name)) {
        out.push(path);
      }
    }
  }
  try {
    if (!(await stat(modelDir)).isDirectory()) throw new InputError('expected a model folder, found a file', modelDir);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError('model folder not found', modelDir);
  }
  await walk('');
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * True for a link a Hugging Face cache snapshot holds: it leads to a file inside the same
 * `models--org--name` repository folder (its blobs/). Other links are not followed, as before.
 */
async function isCacheBlobLink(path: string): Promise<boolean> {
  const parts = path.split(sep);
  const at = parts.lastIndexOf('snapshots');
  if (at <= 0 || !parts[at - 1].startsWith('models--')) return false;
  try {
    const [real, repo] = await Promise.all([realpath(path), realpath(parts.slice(0, at).join(sep))]);
    const rel = relativePath(repo, real);
    return !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel) && (await stat(real)).isFile();
  } catch {
    return false;
  }
}

/** Combines per-file hashes into one, independent of the order they are given in. */
export function combineFileHashes(files: readonly HashedFile[]): string {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return sha256Hex(sorted.map((f) => `${f.path}\t${f.sha256}\n`).join(''));
}

/** The A1111-style short hash: the first 10 hex digits of a file's SHA-256. */
export function shortHash(sha256: string): string {
  return sha256.slice(0, 10);
}

/** Hashes a model folder (through the cache, so unchanged files are not read again). */
export async function hashModelFolder(modelDir: string, cache: FileHashCache, signal?: AbortSignal): Promise<ModelHash> {
  const paths = await listModelFiles(modelDir);
  if (paths.length === 0) throw new InputError('the model folder holds no files', modelDir);
  const files: HashedFile[] = [];
  for (const path of paths) {
    throwIfAborted(signal);
    files.push({ path, sha256: await cache.hash(join(modelDir, path), signal) });
  }
  const mainWeights =
    ['unet/model.onnx_data', 'unet/model.onnx'].find((p) => paths.includes(p)) ??
    paths.filter((p) => p.endsWith('.onnx') || p.endsWith('.onnx_data'))[0] ??
    paths[0];
  return {
    sha256: combineFileHashes(files),
    shortHash: shortHash(files.find((f) => f.path === mainWeights)!.sha256),
    mainWeights,
    files,
  };
}
