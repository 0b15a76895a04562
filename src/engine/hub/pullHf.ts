// Makes a `hf:` reference present in the hub cache and says exactly what it is: the commit, and for every
// file its size and sha256. Files already in the cache (ours or another tool's) are reused without a
// byte of download; missing ones are fetched by downloadBlob under the blob's lock and linked into the
// snapshot as huggingface_hub links them. With a lock entry, the lock's commit is what is fetched and a
// hub that now resolves the revision elsewhere is an error; offline (HF_HUB_OFFLINE=1) nothing is asked
// of the network and what is missing is named.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, mkdirSync, readlinkSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { readCheckpointHeader } from '../checkpoint/checkpointHeader';
import { CancelledError, ModelError } from '../errors';
import { downloadBlob, type BlobProgress } from './downloadBlob';
import { withFileLock } from './fileLock';
import { fetchHfFileMeta, fetchHfRepoInfo } from './hfRepo';
import { findCachedHfRef, repoCachePaths, type RepoCachePaths } from './hubCache';
import { sameOrigin, type HubEndpoint } from './hubHttp';
import { isCommitHash, type HfRef } from './hubRef';
import type { LockEntry, LockedFile } from './lockfile';
import { recordDownload } from './downloadRecord';

export interface PullProgress extends BlobProgress {
  ref: string;
  file: string;
  /** 1-based index of the file among those being downloaded, and their count. */
  index: number;
  count: number;
}

export interface PullOptions {
  cacheDir: string;
  endpoint: HubEndpoint;
  offline: boolean;
  /** The lockfile's entry for this reference: fetch exactly this commit and these files. */
  locked?: LockEntry;
  /** With `locked`: fail when the hub now resolves the revision to another commit (`render --locked`). */
  strict?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: PullProgress) => void;
  /** Called with a line worth telling the user (waiting for another download, rate limit). */
  onNote?: (text: string) => void;
  /** Where imgprompt records what it downloaded (for `models gc`); omitted: not recorded. */
  recordFile?: string;
}

export interface PulledRef {
  entry: LockEntry;
  /** The snapshot folder or file the reference names. */
  path: string;
  /** Bytes downloaded by this pull (0 when everything was cached). */
  downloaded: number;
}

function selectFiles(ref: HfRef, files: readonly string[]): string[] {
  if (ref.path === '') return [...files].sort();
  const exact = files.filter((f) => f === ref.path);
  if (exact.length > 0) return exact;
  const inside = files.filter((f) => f.startsWith(`${ref.path}/`)).sort();
  if (inside.length === 0) {
    const near = files.slice(0, 8).join(', ');
    throw new ModelError(`${ref.text}: the repository has no file or folder '${ref.path}' (it has ${files.length} files: ${near}${files.length > 8 ? ', …' : ''})`);
  }
  return inside;
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The blob a snapshot entry links to, when it is a link into this repository's blobs/ and the blob exists. */
function linkedBlob(paths: RepoCachePaths, link: string): string | undefined {
  try {
    if (!lstatSync(link).isSymbolicLink()) return statSync(link).isFile() ? link : undefined;
    const target = join(dirname(link), readlinkSync(link));
    if (dirname(target) !== paths.blobs || !existsSync(target)) return undefined;
    return target;
  } catch {
    return undefined;
  }
}

/** Points the snapshot entry at the blob with a relative link, replacing any old link in one rename. */
function linkIntoSnapshot(link: string, blob: string): void {
  mkdirSync(dirname(link), { recursive: true });
  const temp = join(dirname(link), `.${basename(link)}.${process.pid}.${Date.now()}.tmp`);
  symlinkSync(relative(dirname(link), blob), temp);
  renameSync(temp, link);
}

function writeRef(paths: RepoCachePaths, revision: string, commit: string): void {
  if (isCommitHash(revision)) return;
  mkdirSync(paths.refs, { recursive: true });
  const temp = join(paths.refs, `.${revision}.${process.pid}.tmp`);
  writeFileSync(temp, commit);
  renameSync(temp, join(paths.refs, revision));
}

function licenseOfSingleFile(path: string): string | undefined {
  if (!/\.safetensors$/i.test(path)) return undefined;
  try {
    const license = readCheckpointHeader(path).metadata['modelspec.license'];
    return typeof license === 'string' && license !== '' ? license.slice(0, 100) : undefined;
  } catch {
    return undefined;
  }
}

function offlinePull(ref: HfRef, options: PullOptions): PulledRef {
  const cached = findCachedHfRef(options.cacheDir, ref);
  const commit = options.locked?.commit ?? (cached.found ? cached.commit : undefined);
  const why = cached.found ? '' : cached.why;
  if (!commit) throw new ModelError(`${ref.text}: HF_HUB_OFFLINE is set and it is not downloaded: ${why}; unset HF_HUB_OFFLINE and run \`imgprompt models pull\``);
  const snapshot = join(repoCachePaths(options.cacheDir, ref.repo).snapshots, commit);
  const files = options.locked?.files;
  if (files) {
    const missing = Object.keys(files).filter((f) => !existsSync(join(snapshot, ...f.split('/'))));
    if (missing.length > 0) throw new ModelError(`${ref.text}: HF_HUB_OFFLINE is set and ${missing.length} locked file(s) of commit ${commit.slice(0, 12)} are not in the hub cache ${options.cacheDir}: ${missing.slice(0, 5).join(', ')}`);
  } else if (!cached.found) throw new ModelError(`${ref.text}: HF_HUB_OFFLINE is set and it is not downloaded: ${why}`);
  const path = ref.path ? join(snapshot, ...ref.path.split('/')) : snapshot;
  const entry: LockEntry = options.locked ?? { source: 'huggingface', repo: ref.repo, revision: ref.revision, commit, files: {} };
  return { entry, path, downloaded: 0 };
}

/** Makes `ref` present in the cache (see the file header). */
export async function pullHfRef(ref: HfRef, options: PullOptions): Promise<PulledRef> {
  if (options.offline) return offlinePull(ref, options);
  const { endpoint, signal } = options;
  const paths = repoCachePaths(options.cacheDir, ref.repo);
  const info = await fetchHfRepoInfo(ref, endpoint, signal);
  const locked = options.locked;
  if (locked && options.strict && locked.commit !== info.commit && !ref.pinned) {
    throw new ModelError(`${ref.text}: the lockfile has commit ${locked.commit} but ${ref.repo}@${ref.revision} now resolves to ${info.commit}; run without --locked to update imgprompt.lock, or pin the revision in the scene`);
  }
  const commit = locked?.commit ?? info.commit;
  const names = locked ? Object.keys(locked.files).sort() : selectFiles(ref, info.files);
  const snapshot = join(paths.snapshots, commit);
  const files: Record<string, LockedFile> = {};
  let downloaded = 0;
  for (const [i, name] of names.entries()) {
    if (signal?.aborted) throw new CancelledError();
    const link = join(snapshot, ...name.split('/'));
    const present = linkedBlob(paths, link);
    if (present) {
      // Already in the cache: a blob named by its sha256 was verified when it was written (LFS);
      // anything else is hashed now, which for the small non-LFS files is cheap.
      const blobName = basename(present);
      const sha256 = /^[0-9a-f]{64}$/.test(blobName) ? blobName : await sha256OfFile(present);
      files[name] = { size: statSync(present).size, sha256 };
      continue;
    }
    const meta = await fetchHfFileMeta(ref, commit, name, endpoint, signal);
    const blobPath = join(paths.blobs, meta.etag);
    const lockPath = join(paths.locks, `${meta.etag}.lock`);
    const what = `hf:${ref.repo}@${commit.slice(0, 12)}/${name}`;
    const result = await withFileLock(
      lockPath,
      async () => {
        if (existsSync(blobPath)) return { sha256: meta.lfs ? meta.etag : await sha256OfFile(blobPath), downloaded: 0 };
        const headers: Record<string, string> = { 'accept-encoding': 'identity' };
        if (endpoint.token && sameOrigin(meta.location, endpoint.url)) headers.authorization = `Bearer ${endpoint.token}`;
        const r = await downloadBlob({
          url: meta.location,
          headers,
          blobPath,
          size: meta.size,
          expected: meta.lfs ? { algorithm: 'sha256', hex: meta.etag } : { algorithm: 'git-sha1', hex: meta.etag },
          what,
          signal,
          onProgress: (p) => options.onProgress?.({ ...p, ref: ref.text, file: name, index: i + 1, count: names.length }),
        });
        if (options.recordFile) recordDownload(options.recordFile, { cacheDir: options.cacheDir, repo: ref.repo, blob: meta.etag });
        return { sha256: r.sha256, downloaded: r.downloaded };
      },
      signal,
      () => options.onNote?.(`${what}: waiting for another download of the same file to finish`),
    );
    const expected = locked?.files[name];
    if (expected && (expected.sha256 !== result.sha256 || expected.size !== meta.size)) {
      throw new ModelError(`${what}: the hub serves a file with sha256 ${result.sha256} (${meta.size} bytes) but imgprompt.lock has ${expected.sha256} (${expected.size} bytes)`);
    }
    linkIntoSnapshot(link, blobPath);
    files[name] = { size: meta.size, sha256: result.sha256 };
    downloaded += result.downloaded;
  }
  // refs/<revision> says what the hub resolves the revision to (other tools read it offline): only
  // written when that is what we fetched, not when the lock held us at an older commit.
  if (commit === info.commit) writeRef(paths, ref.revision, commit);
  const path = ref.path ? join(snapshot, ...ref.path.split('/')) : snapshot;
  const license = info.license ?? (names.length === 1 ? licenseOfSingleFile(join(snapshot, ...names[0].split('/'))) : undefined);
  const entry: LockEntry = { source: 'huggingface', repo: ref.repo, revision: ref.revision, commit, ...(license ? { license } : {}), files };
  return { entry, path, downloaded };
}
