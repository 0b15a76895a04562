// A loopback Hugging Face hub and its CDN, for tests and the download benchmark. It answers as the real
// service does per its documentation and the maintained clients (huggingface_hub's file_download.py,
// @huggingface/hub): GET /api/models/{repo}/revision/{rev} (expand=..., blobs=true), HEAD/GET
// /{repo}/resolve/{rev}/{path} with X-Repo-Commit, ETag (git blob sha1), and for LFS files a 302 to a
// second host with X-Linked-Etag (sha256) and X-Linked-Size; Range/206/416 on both hosts; 401/403 with
// X-Error-Code for private and gated repositories; 429 with Retry-After. Faults for tests: a connection
// cut after N bytes, one flipped byte, rate limits. Every request is logged (without token values).
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeFile {
  path: string;
  data: Buffer;
}

export interface FakeRepo {
  /** `org/name`. */
  repo: string;
  /** Branch or tag → commit. */
  refs: Record<string, string>;
  /** Commit → its files. */
  commits: Record<string, FakeFile[]>;
  /** The model card's `license:`. */
  license?: string;
  /** Files need a token in `readers`; 401 without one, 403 with another. */
  gated?: boolean;
  /** Not even the metadata without a reader's token (401 RepoNotFound, as the hub hides private repos). */
  private?: boolean;
  readers?: string[];
}

export interface LoggedRequest {
  host: 'hub' | 'cdn';
  method: string;
  path: string;
  range?: string;
  /** Whether an Authorization header came (its value is never stored). */
  authorized: boolean;
  status: number;
}

export interface FakeHubFaults {
  /** Cut the connection after this many body bytes, on the next `times` CDN GETs of the blob with this sha256. */
  cut?: { sha256: string; afterBytes: number; times: number };
  /** Flip one byte at this offset when serving the blob with this sha256. */
  corrupt?: { sha256: string; offset: number };
  /** Answer the next `times` hub requests with 429 and this Retry-After. */
  rateLimit?: { times: number; retryAfter: string };
}

/** A random 40-hex commit id. */
export function fakeCommit(): string {
  return randomBytes(20).toString('hex');
}

export function gitBlobSha1(data: Buffer): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The hub keeps weights in LFS (its .gitattributes covers *.onnx, *.safetensors, *.bin, ...), small text in git. */
function isLfs(file: FakeFile): boolean {
  return /\.(onnx|onnx_data|safetensors|bin|ckpt|pt|pth|msgpack|h5)$/i.test(file.path) || file.data.length > 10 * 1024 * 1024;
}

interface FileDigests {
  sha256: string;
  /** The git blob id of what git stores: the LFS pointer for an LFS file, the bytes otherwise. */
  blobId: string;
  pointerSize: number;
}

// The real hub answers metadata from what it stored at push time; hashing a file per request would make
// every HEAD and resolve of a 256 MB file cost ~0.3 s of server CPU (a bench artefact, not the hub's
// behaviour). The digests of a buffer are computed once and remembered.
const digestsOf = new WeakMap<Buffer, { sha256: string; pointer: Buffer; gitSha1?: string }>();

function fileDigests(file: FakeFile): FileDigests {
  let known = digestsOf.get(file.data);
  if (!known) {
    const sha256 = sha256Hex(file.data);
    known = { sha256, pointer: Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${file.data.length}\n`) };
    digestsOf.set(file.data, known);
  }
  if (isLfs(file)) return { sha256: known.sha256, blobId: gitBlobSha1(known.pointer), pointerSize: known.pointer.length };
  known.gitSha1 ??= gitBlobSha1(file.data);
  return { sha256: known.sha256, blobId: known.gitSha1, pointerSize: known.pointer.length };
}

interface Blob {
  data: Buffer;
  sha256: string;
}

function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

export class FakeHub {
  readonly log: LoggedRequest[] = [];
  faults: FakeHubFaults = {};
  private readonly repos = new Map<string, FakeRepo>();
  private readonly blobs = new Map<string, Blob>();
  private hubServer?: Server;
  private cdnServer?: Server;
  hubUrl = '';
  cdnUrl = '';

  addRepo(repo: FakeRepo): void {
    this.repos.set(repo.repo, repo);
    for (const files of Object.values(repo.commits)) {
      for (const f of files) {
        const { sha256 } = fileDigests(f);
        if (isLfs(f)) this.blobs.set(sha256, { data: f.data, sha256 });
      }
    }
  }

  async start(): Promise<void> {
    this.hubServer = createServer((req, res) => this.handleHub(req, res));
    this.cdnServer = createServer((req, res) => this.handleCdn(req, res));
    for (const server of [this.hubServer, this.cdnServer]) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.hubUrl = `http://127.0.0.1:${(this.hubServer.address() as AddressInfo).port}`;
    this.cdnUrl = `http://127.0.0.1:${(this.cdnServer.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const server of [this.hubServer, this.cdnServer]) {
      if (!server) continue;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** Requests of one host (and optionally one method). */
  requests(host: 'hub' | 'cdn', method?: string): LoggedRequest[] {
    return this.log.filter((r) => r.host === host && (method === undefined || r.method === method));
  }

  private send(req: IncomingMessage, res: ServerResponse, host: 'hub' | 'cdn', status: number, headers: Record<string, string | number>, body?: Buffer | string): void {
    this.log.push({ host, method: req.method ?? '', path: req.url ?? '', range: req.headers.range, authorized: req.headers.authorization !== undefined, status });
    const data = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body);
    res.writeHead(status, { 'content-length': data.length, ...headers });
    res.end(req.method === 'HEAD' ? undefined : data);
  }

  private error(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string): void {
    this.send(req, res, 'hub', status, { 'content-type': 'application/json', 'x-error-code': code, 'x-error-message': message }, JSON.stringify({ error: message }));
  }

  private token(req: IncomingMessage): string | undefined {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    return m?.[1];
  }

  private handleHub(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.hubUrl);
    if (this.faults.rateLimit && this.faults.rateLimit.times > 0) {
      this.faults.rateLimit.times--;
      this.send(req, res, 'hub', 429, { 'retry-after': this.faults.rateLimit.retryAfter, 'content-type': 'application/json' }, JSON.stringify({ error: 'You have been rate-limited; you can retry this action in about 1 second.' }));
      return;
    }
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (api) return this.revisionApi(req, res, decodeURIComponent(api[1]), decodeURIComponent(api[2]), url);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve) return this.resolveFile(req, res, decodeURIComponent(resolve[1]), decodeURIComponent(resolve[2]), resolve[3].split('/').map(decodeURIComponent).join('/'));
    this.send(req, res, 'hub', 404, { 'content-type': 'text/plain' }, 'Not Found');
  }

  /** The repository and commit a request may see, or an error already sent. */
  private access(req: IncomingMessage, res: ServerResponse, name: string, revision: string, files: boolean): { repo: FakeRepo; commit: string } | undefined {
    const repo = this.repos.get(name);
    const token = this.token(req);
    const reader = token !== undefined && (repo?.readers ?? []).includes(token);
    if (!repo || (repo.private && !reader)) {
      this.error(req, res, 401, 'RepoNotFound', 'Repository not found');
      return undefined;
    }
    if (files && repo.gated && !reader) {
      if (token === undefined) this.error(req, res, 401, 'GatedRepo', `Access to model ${name} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
      else this.error(req, res, 403, 'GatedRepo', `Access to model ${name} is restricted and you are not in the authorized list. Visit https://huggingface.co/${name} to ask for access.`);
      return undefined;
    }
    const commit = repo.commits[revision] ? revision : repo.refs[revision];
    if (!commit || !repo.commits[commit]) {
      this.error(req, res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
      return undefined;
    }
    return { repo, commit };
  }

  private revisionApi(req: IncomingMessage, res: ServerResponse, name: string, revision: string, url: URL): void {
    const found = this.access(req, res, name, revision, false);
    if (!found) return;
    const { repo, commit } = found;
    const blobs = url.searchParams.get('blobs') === 'true';
    const siblings = repo.commits[commit].map((f) => {
      if (!blobs) return { rfilename: f.path };
      const lfs = isLfs(f);
      return {
        rfilename: f.path,
        blobId: fileDigests(f).blobId,
        size: f.data.length,
        ...(lfs ? { lfs: { sha256: fileDigests(f).sha256, size: f.data.length, pointerSize: fileDigests(f).pointerSize } } : {}),
      };
    });
    const full: Record<string, unknown> = {
      _id: createHash('md5').update(name).digest('hex').slice(0, 24),
      id: name,
      modelId: name,
      author: name.split('/')[0],
      sha: commit,
      lastModified: '2025-01-01T00:00:00.000Z',
      private: repo.private ?? false,
      disabled: false,
      gated: repo.gated ? 'manual' : false,
      downloads: 0,
      likes: 0,
      library_name: 'diffusers',
      tags: ['diffusers', 'onnx'],
      pipeline_tag: 'text-to-image',
      cardData: repo.license ? { license: repo.license } : {},
      siblings,
      createdAt: '2025-01-01T00:00:00.000Z',
    };
    // With expand[], the hub returns only the fields asked for (plus _id and id).
    const expand = url.searchParams.getAll('expand');
    const body = expand.length > 0 ? Object.fromEntries(Object.entries(full).filter(([k]) => k === '_id' || k === 'id' || expand.includes(k))) : full;
    this.send(req, res, 'hub', 200, { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify(body));
  }

  private resolveFile(req: IncomingMessage, res: ServerResponse, name: string, revision: string, path: string): void {
    const found = this.access(req, res, name, revision, true);
    if (!found) return;
    const file = found.repo.commits[found.commit].find((f) => f.path === path);
    if (!file) {
      this.error(req, res, 404, 'EntryNotFound', `${path} does not exist on "${revision}"`);
      return;
    }
    const common = { 'x-repo-commit': found.commit, 'accept-ranges': 'bytes', 'access-control-expose-headers': 'X-Repo-Commit,X-Linked-Etag,X-Linked-Size,ETag,Content-Range' };
    if (isLfs(file)) {
      const { sha256, blobId } = fileDigests(file);
      const location = `${this.cdnUrl}/repos/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}?X-Amz-Expires=3600&X-Amz-Signature=${randomBytes(8).toString('hex')}`;
      this.send(req, res, 'hub', 302, { ...common, location, etag: `"${blobId}"`, 'x-linked-etag': `"${sha256}"`, 'x-linked-size': file.data.length, 'content-type': 'text/plain; charset=utf-8' }, `Found. Redirecting to ${location}`);
      return;
    }
    this.serveBytes(req, res, 'hub', file.data, { ...common, etag: `"${fileDigests(file).blobId}"`, 'content-type': 'application/octet-stream' });
  }

  private handleCdn(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.cdnUrl);
    const sha256 = /\/([0-9a-f]{64})$/.exec(url.pathname)?.[1];
    const blob = sha256 ? this.blobs.get(sha256) : undefined;
    if (!blob || !url.searchParams.has('X-Amz-Signature')) {
      this.send(req, res, 'cdn', 403, { 'content-type': 'application/xml' }, '<Error><Code>AccessDenied</Code></Error>');
      return;
    }
    let data = blob.data;
    const corrupt = this.faults.corrupt;
    if (corrupt && corrupt.sha256 === blob.sha256) {
      data = Buffer.from(data);
      data[corrupt.offset] ^= 0xff;
    }
    this.serveBytes(req, res, 'cdn', data, { etag: `"${blob.sha256}"`, 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' }, blob.sha256);
  }

  /** 200, 206 or 416, as a range-capable HTTP server answers; may cut the connection (faults.cut). */
  private serveBytes(req: IncomingMessage, res: ServerResponse, host: 'hub' | 'cdn', data: Buffer, headers: Record<string, string | number>, sha256?: string): void {
    const range = parseRange(req.headers.range, data.length);
    if (range === 'unsatisfiable') {
      this.send(req, res, host, 416, { ...headers, 'content-range': `bytes */${data.length}` });
      return;
    }
    const status = range ? 206 : 200;
    const start = range?.start ?? 0;
    const end = range?.end ?? data.length - 1;
    const body = data.subarray(start, end + 1);
    const all = { ...headers, ...(range ? { 'content-range': `bytes ${start}-${end}/${data.length}` } : {}) };
    const cut = this.faults.cut;
    if (req.method === 'GET' && cut && cut.sha256 === sha256 && cut.times > 0 && body.length > cut.afterBytes) {
      cut.times--;
      this.log.push({ host, method: 'GET', path: req.url ?? '', range: req.headers.range, authorized: req.headers.authorization !== undefined, status });
      res.writeHead(status, { 'content-length': body.length, ...all });
      res.write(body.subarray(0, cut.afterBytes), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    this.send(req, res, host, status, all, body);
  }
}
