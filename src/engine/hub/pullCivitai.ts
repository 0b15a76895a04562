// Makes a Civitai model version's primary file present: <civitaiDir>/blobs/<sha256>, linked as
// <civitaiDir>/versions/<versionId>/<file name>, downloaded through /api/download/models/{id} (a redirect
// to the CDN, the token sent to Civitai's origin only), resumable and verified against the SHA256 the
// API lists, like hub files. Offline, only what is there is used.
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, symlinkSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { ModelError } from '../errors';
import { fetchCivitaiVersion } from './civitai';
import { downloadBlob } from './downloadBlob';
import { withFileLock } from './fileLock';
import { hubFetch, sameOrigin, type HubEndpoint } from './hubHttp';
import type { CivitaiRef } from './hubRef';
import type { LockEntry } from './lockfile';
import type { PullProgress, PulledRef } from './pullHf';

export interface CivitaiPullOptions {
  civitaiDir: string;
  endpoint: HubEndpoint;
  offline: boolean;
  locked?: LockEntry;
  strict?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: PullProgress) => void;
  onNote?: (text: string) => void;
}

/** The downloaded file of a version, if any (the one entry of its versions/<id>/ folder). */
export function findCachedCivitaiVersion(civitaiDir: string, versionId: number): string | undefined {
  const dir = join(civitaiDir, 'versions', String(versionId));
  try {
    const names = readdirSync(dir).filter((n) => !n.startsWith('.'));
    return names.length === 1 && statSync(join(dir, names[0])).isFile() ? join(dir, names[0]) : undefined;
  } catch {
    return undefined;
  }
}

function safeFileName(name: string): string {
  const base = basename(name.replace(/\\/g, '/'));
  return /^[\w.+ ()-]{1,200}$/.test(base) && base !== '.' && base !== '..' ? base : 'model.safetensors';
}

export async function pullCivitaiRef(ref: CivitaiRef, options: CivitaiPullOptions): Promise<PulledRef> {
  const cached = findCachedCivitaiVersion(options.civitaiDir, ref.versionId);
  if (options.offline || (cached && options.locked)) {
    if (!cached) throw new ModelError(`${ref.text}: offline and not downloaded (nothing in ${join(options.civitaiDir, 'versions', String(ref.versionId))})`);
    const entry = options.locked ?? { source: 'civitai', repo: String(ref.modelId ?? ''), revision: String(ref.versionId), commit: String(ref.versionId), files: {} };
    return { entry, path: cached, downloaded: 0 };
  }
  const version = await fetchCivitaiVersion(ref.versionId, options.endpoint, options.signal);
  if (!version) throw new ModelError(`${ref.text}: Civitai has no model version ${ref.versionId}`);
  if (ref.modelId !== undefined && ref.modelId !== version.modelId) throw new ModelError(`${ref.text}: version ${ref.versionId} belongs to model ${version.modelId}, not ${ref.modelId}`);
  const file = version.files.find((f) => f.primary) ?? version.files[0];
  if (!file) throw new ModelError(`${ref.text}: Civitai lists no file with a SHA256 for this version`);
  const lockedFile = options.locked ? Object.values(options.locked.files)[0] : undefined;
  if (lockedFile && lockedFile.sha256 !== file.sha256) {
    throw new ModelError(`${ref.text}: Civitai now serves a file with sha256 ${file.sha256} but imgprompt.lock has ${lockedFile.sha256}`);
  }
  const name = safeFileName(file.name);
  const blob = join(options.civitaiDir, 'blobs', file.sha256);
  const link = join(options.civitaiDir, 'versions', String(ref.versionId), name);
  let downloaded = 0;
  await withFileLock(join(options.civitaiDir, '.locks', `${file.sha256}.lock`), async () => {
    if (existsSync(blob)) return;
    const base = options.endpoint.url.replace(/\/+$/, '');
    const fetchImpl = hubFetch({ endpoint: options.endpoint, what: ref.text, pageUrl: `${base}/models/${version.modelId}`, signal: options.signal });
    const start = await fetchImpl(`${base}/api/download/models/${ref.versionId}`, { method: 'GET', redirect: 'manual' });
    await start.body?.cancel();
    const location = start.headers.get('location');
    if (start.status < 300 || start.status >= 400 || !location) throw new ModelError(`${ref.text}: Civitai's download answered HTTP ${start.status} without a redirect to the file`);
    const url = new URL(location, base).href;
    const head = await fetch(url, { method: 'HEAD', signal: options.signal });
    const size = Number(head.headers.get('content-length'));
    if (!head.ok || !Number.isSafeInteger(size) || size <= 0) throw new ModelError(`${ref.text}: the download host gave no size for the file (HTTP ${head.status})`);
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (options.endpoint.token && sameOrigin(url, options.endpoint.url)) headers.authorization = `Bearer ${options.endpoint.token}`;
    const result = await downloadBlob({
      url,
      headers,
      blobPath: blob,
      size,
      expected: { algorithm: 'sha256', hex: file.sha256 },
      what: `${ref.text} (${name})`,
      signal: options.signal,
      onProgress: (p) => options.onProgress?.({ ...p, ref: ref.text, file: name, index: 1, count: 1 }),
    });
    downloaded = result.downloaded;
  }, options.signal, () => options.onNote?.(`${ref.text}: waiting for another download of the same file to finish`));
  if (!existsSync(link)) {
    mkdirSync(join(link, '..'), { recursive: true });
    const temp = `${link}.${process.pid}.tmp`;
    symlinkSync(relative(join(link, '..'), blob), temp);
    renameSync(temp, link);
  }
  const entry: LockEntry = {
    source: 'civitai',
    repo: String(version.modelId),
    revision: String(version.versionId),
    commit: String(version.versionId),
    ...(version.license ? { license: version.license } : {}),
    files: { [name]: { size: statSync(blob).size, sha256: file.sha256 } },
  };
  return { entry, path: link, downloaded };
}
