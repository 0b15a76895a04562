// imgprompt.lock: what every hub reference of a project resolved to, so another machine (a colleague, CI)
// fetches the same bytes. JSON with sorted keys and one entry per file, written atomically, the same on
// every machine: no paths, no hosts, no times, no tokens.
//   { "lockfileVersion": 1,
//     "models": { "hf:org/name@main": { "source": "huggingface", "repo", "revision", "commit", "license",
//                                        "files": { "unet/model.onnx": { "size", "sha256" } } } },
//     "local": { "loras/ink.safetensors": { "size", "sha256", "license", "baseModel", "civitai" } } }
// `local` holds the project's own model/LoRA files by project-relative path (never absolute).
import { existsSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTextBounded } from '../io/sceneFileSystem';

export const LOCKFILE_NAME = 'imgprompt.lock';
export const LOCKFILE_VERSION = 1;

export interface LockedFile {
  size: number;
  sha256: string;
}

export interface LockEntry {
  source: 'huggingface' | 'civitai';
  /** `org/name` on Hugging Face; the model id on Civitai. */
  repo: string;
  /** As the scene wrote it (`main`, a tag, a commit); the Civitai version id. */
  revision: string;
  /** The commit the revision resolved to; the Civitai version id. */
  commit: string;
  license?: string;
  files: Record<string, LockedFile>;
}

/** A model or LoRA file of the project itself (not downloaded): its bytes, and what Civitai says of them. */
export interface LocalLockEntry extends LockedFile {
  license?: string;
  baseModel?: string;
  /** The Civitai version these bytes are (its AIR when Civitai gives one, else civitai:<version id>). */
  civitai?: string;
}

export interface Lockfile {
  lockfileVersion: number;
  models: Record<string, LockEntry>;
  /** By project-relative POSIX path; absent when the project locks no files of its own. */
  local?: Record<string, LocalLockEntry>;
}

export class LockfileError extends Error {
  override readonly name = 'LockfileError';
}

export function lockfilePath(projectRoot: string): string {
  return join(projectRoot, LOCKFILE_NAME);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseEntry(key: string, raw: unknown, where: string): LockEntry {
  const bad = (what: string) => new LockfileError(`${where}: entry '${key}' ${what}`);
  if (!isObject(raw)) throw bad('is not an object');
  const { source, repo, revision, commit, license, files } = raw;
  if (source !== 'huggingface' && source !== 'civitai') throw bad(`has source ${JSON.stringify(source)}; expected "huggingface" or "civitai"`);
  for (const [name, value] of Object.entries({ repo, revision, commit })) if (typeof value !== 'string' || value === '') throw bad(`has no ${name}`);
  if (license !== undefined && typeof license !== 'string') throw bad('has a license that is not a string');
  if (!isObject(files)) throw bad('has no files');
  const out: Record<string, LockedFile> = {};
  for (const [name, f] of Object.entries(files)) {
    if (!isObject(f) || !Number.isSafeInteger(f.size) || typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) throw bad(`file '${name}' needs a size and a 64-hex sha256`);
    if (name.split('/').some((p) => p === '' || p === '.' || p === '..')) throw bad(`file '${name}' is not a plain relative path`);
    out[name] = { size: f.size as number, sha256: f.sha256 };
  }
  return { source, repo: repo as string, revision: revision as string, commit: commit as string, ...(license ? { license } : {}), files: out };
}

/** The project's lockfile, an empty one when there is none; LockfileError when it is malformed. */
export function readLockfile(projectRoot: string): Lockfile {
  const path = lockfilePath(projectRoot);
  if (!existsSync(path)) return { lockfileVersion: LOCKFILE_VERSION, models: {} };
  const text = readTextBounded(path, 16 * 1024 * 1024);
  if (text === undefined) throw new LockfileError(`${path}: unreadable or larger than 16 MB`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new LockfileError(`${path}: not JSON (${(error as Error).message})`);
  }
  if (!isObject(raw) || raw.lockfileVersion !== LOCKFILE_VERSION || !isObject(raw.models)) {
    throw new LockfileError(`${path}: expected {"lockfileVersion": ${LOCKFILE_VERSION}, "models": {...}}`);
  }
  const models: Record<string, LockEntry> = {};
  for (const [key, entry] of Object.entries(raw.models)) models[key] = parseEntry(key, entry, path);
  if (raw.local === undefined) return { lockfileVersion: LOCKFILE_VERSION, models };
  if (!isObject(raw.local)) throw new LockfileError(`${path}: "local" must be an object of project files`);
  const local: Record<string, LocalLockEntry> = {};
  for (const [name, entry] of Object.entries(raw.local)) local[name] = parseLocalEntry(name, entry, path);
  return { lockfileVersion: LOCKFILE_VERSION, models, local };
}

function parseLocalEntry(name: string, raw: unknown, where: string): LocalLockEntry {
  const bad = (what: string) => new LockfileError(`${where}: local file '${name}' ${what}`);
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.split('/').some((p) => p === '' || p === '.' || p === '..')) throw bad('is not a path relative to the project');
  if (!isObject(raw) || !Number.isSafeInteger(raw.size) || typeof raw.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(raw.sha256)) throw bad('needs a size and a 64-hex sha256');
  const out: LocalLockEntry = { size: raw.size as number, sha256: raw.sha256 };
  for (const key of ['license', 'baseModel', 'civitai'] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw bad(`has a ${key} that is not a string`);
    out[key] = v;
  }
  return out;
}

function sorted<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(record).sort().map((k) => [k, record[k]]));
}

/** The lockfile's text: sorted keys, fixed field order, two-space indent, a final newline. */
export function formatLockfile(lock: Lockfile): string {
  const models: Record<string, unknown> = {};
  for (const [key, e] of Object.entries(sorted(lock.models))) {
    const files = Object.fromEntries(Object.entries(sorted(e.files)).map(([n, f]) => [n, { size: f.size, sha256: f.sha256 }]));
    models[key] = { source: e.source, repo: e.repo, revision: e.revision, commit: e.commit, ...(e.license ? { license: e.license } : {}), files };
  }
  const local = lock.local && Object.keys(lock.local).length > 0
    ? Object.fromEntries(Object.entries(sorted(lock.local)).map(([n, f]) => [n, { size: f.size, sha256: f.sha256, license: f.license, baseModel: f.baseModel, civitai: f.civitai }]))
    : undefined;
  return `${JSON.stringify({ lockfileVersion: LOCKFILE_VERSION, models, local }, null, 2)}\n`;
}

/** Writes the lockfile atomically; returns false when its content was already this (nothing written). */
export function writeLockfile(projectRoot: string, lock: Lockfile): boolean {
  const path = lockfilePath(projectRoot);
  const text = formatLockfile(lock);
  if (existsSync(path) && readTextBounded(path, 16 * 1024 * 1024) === text) return false;
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, path);
  return true;
}

const cachedLocks = new Map<string, { stamp: string; lock: Lockfile | undefined }>();

/**
 * The project's lockfile as last read, read again only when its size or mtime changes (editors ask on every
 * keystroke); undefined when there is none or it is malformed (pulling and `--locked` report that).
 */
export function cachedLockfile(projectRoot: string): Lockfile | undefined {
  const path = lockfilePath(projectRoot);
  let stamp: string;
  try {
    const s = statSync(path);
    stamp = `${s.size}:${s.mtimeMs}`;
  } catch {
    return undefined;
  }
  const hit = cachedLocks.get(path);
  if (hit?.stamp === stamp) return hit.lock;
  let lock: Lockfile | undefined;
  try {
    lock = readLockfile(projectRoot);
  } catch {
    lock = undefined;
  }
  cachedLocks.set(path, { stamp, lock });
  return lock;
}
