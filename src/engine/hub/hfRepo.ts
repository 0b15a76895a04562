// What the Hugging Face hub says about a repository and its files.
// Repository metadata (commit, file list, model card licence) comes through @huggingface/hub's
// modelInfo (GET /api/models/{repo}/revision/{rev}); per-file metadata is a HEAD on
// /{repo}/resolve/{commit}/{path} read as huggingface_hub's get_hf_file_metadata reads it: X-Repo-Commit,
// X-Linked-Etag (the LFS sha256) or ETag (the git blob sha1), X-Linked-Size or Content-Length, and the
// Location of the CDN for LFS files. Redirects to the hub's own origin (renamed repos) are followed;
// the one to another host is where the bytes are fetched, without the token.
import { ModelError } from '../errors';
import { hubFetch, sameOrigin, serverText, withoutToken, type HubEndpoint } from './hubHttp';
import { isCommitHash, type HfRef } from './hubRef';

export interface HfRepoInfo {
  commit: string;
  files: string[];
  /** The model card's `license:` (a list is joined with ', '). */
  license?: string;
  gated: boolean | string;
}

export interface HfFileMeta {
  commit: string;
  /** Normalised etag: the sha256 of an LFS file, the git blob sha1 of a regular one. */
  etag: string;
  size: number;
  lfs: boolean;
  /** Where the bytes are: the CDN for LFS files, the resolve URL otherwise. */
  location: string;
}

export function pageUrl(endpoint: HubEndpoint, repo: string): string {
  return `${endpoint.url.replace(/\/+$/, '')}/${repo}`;
}

function licenseOf(cardData: unknown): string | undefined {
  if (!cardData || typeof cardData !== 'object') return undefined;
  const value = (cardData as Record<string, unknown>).license;
  if (typeof value === 'string') return serverText(value, 100);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return serverText(value.join(', '), 100);
  return undefined;
}

/** The commit a revision resolves to now, the repository's files at it, and its licence. */
export async function fetchHfRepoInfo(ref: HfRef, endpoint: HubEndpoint, signal?: AbortSignal): Promise<HfRepoInfo> {
  const what = `hf:${ref.repo}@${ref.revision}`;
  const fetchImpl = hubFetch({ endpoint, what, pageUrl: pageUrl(endpoint, ref.repo), signal });
  // Loaded on first use: the editor imports this module at activation, which must stay light.
  const { modelInfo } = await import('@huggingface/hub');
  let info;
  try {
    info = await modelInfo({ name: ref.repo, revision: ref.revision, hubUrl: endpoint.url.replace(/\/+$/, ''), additionalFields: ['sha', 'filePaths', 'cardData'], fetch: fetchImpl });
  } catch (error) {
    if (error instanceof ModelError) throw error;
    const status = (error as { statusCode?: unknown }).statusCode;
    const message = error instanceof Error ? error.message : String(error);
    throw new ModelError(`${what}: the hub's model API failed${typeof status === 'number' ? ` (HTTP ${status})` : ''}: ${withoutToken(serverText(message, 300), endpoint.token)}`);
  }
  const commit: unknown = info.sha;
  if (typeof commit !== 'string' || !isCommitHash(commit)) throw new ModelError(`${what}: the hub's answer has no commit sha for the revision`);
  if (isCommitHash(ref.revision) && commit !== ref.revision) throw new ModelError(`${what}: asked for commit ${ref.revision} but the hub answered for ${commit}`);
  const listed: unknown = info.filePaths;
  if (!Array.isArray(listed)) throw new ModelError(`${what}: the hub's answer lists no files (siblings)`);
  const files = listed.filter((f): f is string => typeof f === 'string');
  // File names become paths under the snapshot folder: nothing that could climb out of it.
  const unsafe = files.find((f) => f.includes('\\') || f.includes('\0') || f.split('/').some((p) => p === '' || p === '.' || p === '..'));
  if (unsafe !== undefined) throw new ModelError(`${what}: the hub lists a file named '${serverText(unsafe, 100)}', which is not a plain relative path; refusing the repository`);
  return { commit, files, license: licenseOf(info.cardData), gated: info.gated ?? false };
}

function normaliseEtag(etag: string | null): string | undefined {
  return etag?.replace(/^W\//, '').replace(/^"|"$/g, '') || undefined;
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

export function resolveUrl(endpoint: HubEndpoint, repo: string, commit: string, path: string): string {
  return `${endpoint.url.replace(/\/+$/, '')}/${repo}/resolve/${encodeURIComponent(commit)}/${encodePath(path)}`;
}

/** HEAD on the file's resolve URL at `commit`. */
export async function fetchHfFileMeta(ref: HfRef, commit: string, path: string, endpoint: HubEndpoint, signal?: AbortSignal): Promise<HfFileMeta> {
  const what = `hf:${ref.repo}@${commit.slice(0, 12)}/${path}`;
  const fetchImpl = hubFetch({ endpoint, what, pageUrl: pageUrl(endpoint, ref.repo), signal });
  let url = resolveUrl(endpoint, ref.repo, commit, path);
  for (let hops = 0; ; hops++) {
    const response = await fetchImpl(url, { method: 'HEAD', redirect: 'manual', headers: { 'accept-encoding': 'identity' } });
    const location = response.headers.get('location');
    const redirect = response.status >= 300 && response.status < 400 && location;
    const target = redirect ? new URL(location, url).href : undefined;
    if (target && sameOrigin(target, endpoint.url) && hops < 5) {
      url = target; // a renamed repository: the hub points at itself
      continue;
    }
    if (response.status === 404) throw new ModelError(`${what}: not found on the hub (${serverText(response.headers.get('x-error-code')) || 'HTTP 404'})`);
    if (!target && response.status !== 200) throw new ModelError(`${what}: the hub answered HTTP ${response.status} to HEAD`);
    const linked = normaliseEtag(response.headers.get('x-linked-etag'));
    const etag = linked ?? normaliseEtag(response.headers.get('etag'));
    const sizeText = response.headers.get('x-linked-size') ?? response.headers.get('content-length');
    const size = sizeText !== null && /^\d{1,16}$/.test(sizeText) ? Number(sizeText) : NaN;
    const repoCommit = response.headers.get('x-repo-commit') ?? commit;
    if (!etag || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(etag)) throw new ModelError(`${what}: the hub gave no usable ETag (X-Linked-Etag or ETag) to verify the file against`);
    if (!Number.isSafeInteger(size)) throw new ModelError(`${what}: the hub gave no file size (X-Linked-Size or Content-Length)`);
    if (repoCommit !== commit) throw new ModelError(`${what}: the hub served commit ${serverText(repoCommit, 40)} instead of ${commit}`);
    const lfs = linked !== undefined && etag.length === 64;
    return { commit, etag, size, lfs, location: target ?? url };
  }
}
