// Reads one ONNX component (model.onnx and the external-data files its initializers name) into memory,
// validating everything a user can get wrong before onnxruntime sees it: a missing folder or file, a
// truncated or foreign model.onnx, external weights that are missing, outside the folder, or too short.
// The bytes it returns are what a session is created from, and what a LoRA patch modifies (in memory:
// nothing here writes a model's files — a converted checkpoint's external data may be a hard link to the
// user's own file, which is a plain file inside the folder and passes the checks like any other).
import { constants as bufferConstants } from 'node:buffer';
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, relative, sep } from 'node:path';
import { ModelError } from '../errors';
import { OnnxProtoError, onnxDataTypeSize, parseOnnxModel, type OnnxInitializer, type OnnxModelInfo } from './onnxProto';

/** The file operations the model layer uses; tests inject a counting or failing implementation. */
export interface ModelFileSystem {
  /** Resolves undefined when nothing exists at the path. */
  stat(path: string): Promise<FileStat | undefined>;
  readFile(path: string): Promise<Uint8Array>;
  /** Where a path really is (links resolved). Optional: without it, links are not checked. */
  realpath?(path: string): Promise<string>;
}

export interface FileStat {
  readonly size: number;
  readonly mtimeMs: number;
  readonly isFile: boolean;
  readonly isDirectory: boolean;
}

export const nodeModelFileSystem: ModelFileSystem = {
  async stat(path) {
    try {
      const s = await stat(path);
      return { size: s.size, mtimeMs: s.mtimeMs, isFile: s.isFile(), isDirectory: s.isDirectory() };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw error;
    }
  },
  readFile: (path) => readWholeFile(path),
  realpath: (path) => realpath(path),
};

/**
 * The folder an external-data file must really sit in: the model folder (the component folder's
 * parent), or for a Hugging Face cache snapshot (`models--org--name/snapshots/<rev>/...`, whose files
 * are links into `models--org--name/blobs/`) the repository's cache folder.
 */
export function externalDataRoot(realModelPath: string): string {
  const parts = realModelPath.split(sep);
  const snapshots = parts.lastIndexOf('snapshots');
  if (snapshots > 0 && parts[snapshots - 1].startsWith('models--')) return parts.slice(0, snapshots).join(sep);
  return dirname(dirname(realModelPath));
}

/** fs.readFile stops at 2 GiB; weight files of full-size models are larger. */
const READ_FILE_LIMIT = 2 ** 31 - 1;
const READ_CHUNK_BYTES = 256 * 1024 * 1024;

/** Fills `out` from the file at `position`, in chunks a single read accepts; returns the bytes read (fewer at the end of the file). */
async function readInto(handle: FileHandle, out: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < out.length) {
    const { bytesRead } = await handle.read(out, done, Math.min(READ_CHUNK_BYTES, out.length - done), position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Reads a file of any size Node can hold in one Buffer: readFile below 2 GiB, chunked reads above. */
export async function readWholeFile(path: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size <= READ_FILE_LIMIT) return await handle.readFile();
    const out = Buffer.allocUnsafe(size);
    const read = await readInto(handle, out, 0);
    // A file that shrank while being read is reported by the caller's length check.
    return read === size ? out : out.subarray(0, read);
  } finally {
    await handle.close();
  }
}

/** A file a session depends on, with the identity that tells whether it changed since. */
export interface FileIdentity {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

export interface ExternalDataFile extends FileIdentity {
  /** The location string as the graph names it (relative to model.onnx's folder). */
  readonly location: string;
  /**
   * The file's bytes when they were read (for patching); undefined when onnxruntime is to read the file
   * from disk itself, which needs one copy of the weights fewer at load time.
   */
  readonly data: Uint8Array | undefined;
}

export interface OnnxModelFiles {
  /** Absolute path of model.onnx. */
  readonly modelPath: string;
  readonly modelBytes: Uint8Array;
  readonly modelIdentity: FileIdentity;
  readonly info: OnnxModelInfo;
  readonly externalData: readonly ExternalDataFile[];
  /**
   * The folder onnxruntime resolves external-data locations against when it reads them itself: model.onnx's
   * own when absent; a range patch's overlay folder (lora/rangePatch.ts) when set.
   */
  readonly externalDataFolder?: string;
}

export const MODEL_FILE_NAME = 'model.onnx';

/** Largest file Node can read into one Buffer (4 GiB on Node 20). */
export const MAX_IN_MEMORY_FILE_BYTES = bufferConstants.MAX_LENGTH;

/**
 * Locates `model.onnx` in a component folder (`unet/`, `text_encoder/`...), with an error that says
 * whether the folder or the file is missing.
 */
export async function componentModelPath(componentDir: string, fs: ModelFileSystem = nodeModelFileSystem): Promise<string> {
  const dirStat = await fs.stat(componentDir);
  if (!dirStat) throw new ModelError('component folder not found', componentDir);
  if (!dirStat.isDirectory) throw new ModelError('expected a component folder (holding model.onnx), found a file', componentDir);
  const modelPath = join(componentDir, MODEL_FILE_NAME);
  const fileStat = await fs.stat(modelPath);
  if (!fileStat || !fileStat.isFile) throw new ModelError(`the component folder has no ${MODEL_FILE_NAME}`, modelPath);
  return modelPath;
}

/** Identities of model.onnx and its external-data files, by stat only (no reads). Undefined if any is gone. */
export async function statIdentities(paths: readonly string[], fs: ModelFileSystem): Promise<FileIdentity[] | undefined> {
  const out: FileIdentity[] = [];
  for (const path of paths) {
    const s = await fs.stat(path);
    if (!s || !s.isFile) return undefined;
    out.push({ path, size: s.size, mtimeMs: s.mtimeMs });
  }
  return out;
}

export interface ReadOnnxModelOptions {
  readonly fs?: ModelFileSystem;
  /**
   * Read external-data files into memory (needed to patch weights). Default false: they are only
   * validated (present, long enough) and onnxruntime reads them from disk, which on a 196 MB test
   * weight file cut peak memory at load from 644 to 457 MB and load time by about half.
   */
  readonly readExternalData?: boolean;
}

/**
 * Reads and validates model.onnx and checks every external-data file it references (reading those
 * too when asked). Throws ModelError naming the file for anything missing, truncated or malformed.
 */
export async function readOnnxModelFiles(modelPath: string, options: ReadOnnxModelOptions = {}): Promise<OnnxModelFiles> {
  const fs = options.fs ?? nodeModelFileSystem;
  const modelStat = await fs.stat(modelPath);
  if (!modelStat) {
    const dirStat = await fs.stat(dirname(modelPath));
    throw dirStat
      ? new ModelError('model file not found', modelPath)
      : new ModelError('component folder not found', dirname(modelPath));
  }
  if (!modelStat.isFile) throw new ModelError('expected an ONNX model file, found a folder', modelPath);
  if (modelStat.size === 0) throw new ModelError('the model file is empty (0 bytes): an interrupted download or copy?', modelPath);
  if (modelStat.size > MAX_IN_MEMORY_FILE_BYTES) {
    throw new ModelError(`the model file is ${modelStat.size} bytes; ONNX graphs over 2 GB must keep their weights in external data`, modelPath);
  }
  const modelBytes = await fs.readFile(modelPath);
  const info = parseModel(modelPath, modelBytes);
  checkInlineInitializers(modelPath, info);
  const externalData = await checkExternalData(modelPath, info, fs, options.readExternalData ?? false);
  return {
    modelPath,
    modelBytes,
    modelIdentity: { path: modelPath, size: modelStat.size, mtimeMs: modelStat.mtimeMs },
    info,
    externalData,
  };
}

function parseModel(modelPath: string, bytes: Uint8Array): OnnxModelInfo {
  try {
    return parseOnnxModel(bytes);
  } catch (error) {
    if (!(error instanceof OnnxProtoError)) throw error;
    const what = error.truncated
      ? `the file is truncated: it ends at byte ${bytes.length} in the middle of the model (an interrupted download or copy?)`
      : 'the file is not a valid ONNX model (corrupt, or not an ONNX file at all)';
    const e = new ModelError(`${what}; detail: ${error.message} at byte ${error.offset}`, modelPath);
    e.cause = error;
    throw e;
  }
}

function expectedByteLength(dims: readonly number[], dataType: number): number | undefined {
  const size = onnxDataTypeSize(dataType);
  return size === undefined ? undefined : dims.reduce((n, d) => n * d, size);
}

function checkInlineInitializers(modelPath: string, info: OnnxModelInfo): void {
  for (const init of info.initializers) {
    if (init.data.kind !== 'raw') continue;
    const expected = expectedByteLength(init.dims, init.dataType);
    if (expected !== undefined && expected !== init.data.length) {
      throw new ModelError(
        `the weights of '${init.name}' are ${init.data.length} bytes but its shape [${init.dims.join(', ')}] needs ${expected}: the file is corrupt`,
        modelPath,
      );
    }
  }
}

/** Resolves an external-data location against the model's folder, refusing paths that leave it. */
function resolveLocation(modelPath: string, location: string, initializer: string): string {
  const normalized = normalize(location);
  if (isAbsolute(location) || normalized === '..' || normalized.startsWith(`..${sep}`) || location.includes('\0')) {
    throw new ModelError(
      `initializer '${initializer}' keeps its weights at '${location}', outside the model's folder; only paths inside it are allowed`,
      modelPath,
    );
  }
  return join(dirname(modelPath), normalized);
}

async function checkExternalData(modelPath: string, info: OnnxModelInfo, fs: ModelFileSystem, read: boolean): Promise<ExternalDataFile[]> {
  // For each file: the furthest byte any initializer needs, and which initializer needs it.
  const needs = new Map<string, { path: string; end: number; initializer: string }>();
  for (const init of info.initializers) {
    if (init.data.kind !== 'external') continue;
    const path = resolveLocation(modelPath, init.data.location, init.name);
    const expected = expectedByteLength(init.dims, init.dataType);
    if (init.data.length !== undefined && expected !== undefined && init.data.length !== expected) {
      throw new ModelError(
        `initializer '${init.name}' declares ${init.data.length} bytes of external data but its shape [${init.dims.join(', ')}] needs ${expected}: the file is corrupt`,
        modelPath,
      );
    }
    const end = init.data.offset + (init.data.length ?? expected ?? 0);
    const previous = needs.get(init.data.location);
    if (!previous || end > previous.end) needs.set(init.data.location, { path, end, initializer: init.name });
  }
  const files: ExternalDataFile[] = [];
  for (const [location, need] of needs) {
    const s = await fs.stat(need.path);
    if (!s || !s.isFile) {
      throw new ModelError(
        `the external weights file '${location}' that the graph needs (for '${need.initializer}' and others) is missing; it must sit next to ${MODEL_FILE_NAME}`,
        need.path,
      );
    }
    if (s.size < need.end) {
      throw new ModelError(
        `the external weights file is truncated: it has ${s.size} bytes but '${need.initializer}' needs bytes up to ${need.end} (an interrupted download or copy?)`,
        need.path,
      );
    }
    if (fs.realpath) {
      // A link may lead anywhere: the weights must really be inside the model (or its cache repository).
      const [realFile, realModel] = await Promise.all([fs.realpath(need.path), fs.realpath(modelPath)]);
      const root = externalDataRoot(realModel);
      const rel = relative(root, realFile);
      if (rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
        throw new ModelError(`the external weights file '${location}' is a link that leads outside the model folder (to ${realFile}); only files inside it are read`, need.path);
      }
    }
    const file: ExternalDataFile = { location, path: need.path, size: s.size, mtimeMs: s.mtimeMs, data: undefined };
    files.push(read ? await readExternalFile(file, fs) : file);
  }
  return files;
}

async function readExternalFile(file: ExternalDataFile, fs: ModelFileSystem): Promise<ExternalDataFile> {
  if (file.data) return file;
  if (file.size > MAX_IN_MEMORY_FILE_BYTES) {
    throw new ModelError(`the external weights file is ${file.size} bytes, more than this Node version can hold in memory to patch`, file.path);
  }
  const data = await fs.readFile(file.path);
  if (data.length !== file.size) {
    throw new ModelError(`the external weights file changed while it was being read (${data.length} of ${file.size} bytes)`, file.path);
  }
  return { ...file, data };
}

/**
 * The bytes of weights a session of `files` holds: model.onnx, and of each external-data file only what
 * its initializers use — a converted checkpoint's components share one hard link to the whole checkpoint
 * (checkpoint/convert/convertCheckpoint.ts), of which each reads its own part.
 */
export function usedWeightBytes(files: OnnxModelFiles): number {
  const used = new Map<string, number>();
  for (const init of files.info.initializers) {
    const d = init.data;
    if (d.kind === 'external') used.set(d.location, (used.get(d.location) ?? 0) + (d.length ?? expectedByteLength(init.dims, init.dataType) ?? 0));
  }
  return files.modelIdentity.size + files.externalData.reduce((n, f) => n + Math.min(f.size, used.get(f.location) ?? f.size), 0);
}

/** `files` with every external-data file read into memory (validated already by readOnnxModelFiles). */
export async function readExternalData(files: OnnxModelFiles, fs: ModelFileSystem = nodeModelFileSystem): Promise<OnnxModelFiles> {
  if (files.externalData.every((f) => f.data !== undefined)) return files;
  const externalData: ExternalDataFile[] = [];
  for (const f of files.externalData) externalData.push(await readExternalFile(f, fs));
  return { ...files, externalData };
}

/**
 * An initializer's stored bytes (little-endian tensor data): a view into the loaded files when they hold
 * them (initializerBytes), else read from its external-data file by range, so a transform that needs a
 * few tensors does not hold every weight in memory. Undefined for values in typed protobuf fields.
 */
export async function readInitializerBytes(files: OnnxModelFiles, init: OnnxInitializer): Promise<Uint8Array | undefined> {
  const d = init.data;
  if (d.kind !== 'external') return initializerBytes(files, init);
  const file = files.externalData.find((f) => f.location === d.location);
  if (!file) throw new ModelError(`the external weights file '${d.location}' of '${init.name}' is not among the model's files`, files.modelPath);
  if (file.data) return initializerBytes(files, init);
  const length = d.length ?? expectedByteLength(init.dims, init.dataType) ?? file.size - d.offset;
  const out = new Uint8Array(length);
  const handle = await open(file.path, 'r');
  try {
    if ((await readInto(handle, out, d.offset)) < length) {
      throw new ModelError(`the external weights file ended before the bytes of '${init.name}' (it changed while being read?)`, file.path);
    }
  } finally {
    await handle.close();
  }
  return out;
}

/**
 * A view of an initializer's stored bytes (little-endian tensor data) inside the loaded files: in
 * model.onnx for inline weights, in its external-data file otherwise. Undefined for values stored in
 * typed protobuf fields (small constants). A weight patch writes through this view.
 */
export function initializerBytes(files: OnnxModelFiles, init: OnnxInitializer): Uint8Array | undefined {
  const d = init.data;
  if (d.kind === 'typed') return undefined;
  if (d.kind === 'raw') return files.modelBytes.subarray(d.offset, d.offset + d.length);
  const file = files.externalData.find((f) => f.location === d.location);
  if (!file?.data) throw new ModelError(`the external weights of '${init.name}' were not read into memory`, file?.path ?? files.modelPath);
  const length = d.length ?? expectedByteLength(init.dims, init.dataType) ?? file.data.length - d.offset;
  return file.data.subarray(d.offset, d.offset + length);
}
