// Downloads one file into the cache: resumable, verified and atomic.
//   1. Bytes go to `<blob>.incomplete` (huggingface_hub's name, so either tool resumes the other's).
//   2. A partial file is continued with `Range: bytes=<have>-`; a 206 must start exactly there, a 200
//      restarts from zero, a 416 means the partial file is not a prefix of this blob: start over.
//   3. The digest covers the bytes already on disk and every new one; a file whose sha256 (LFS) or git
//      blob sha1 differs from the hub's etag is deleted, never renamed into place.
//   4. Only a complete, verified file is renamed to its blob name (one rename: all or nothing).
// A dropped connection is resumed in place a few times before giving up; what arrived stays on disk.
// The bytes come through directGet (read straight into the batches that are hashed and written), or
// node:http and receiveToFile for a response that is not Content-Length framed.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, openSync, closeSync, renameSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { CancelledError, ModelError } from '../errors';
import { serverText } from './hubHttp';
import { directGet, type Verdict } from './directGet';
import { receiveToFile, type ReceiveTarget } from './receiveToFile';

export type ExpectedDigest = { algorithm: 'sha256'; hex: string } | { algorithm: 'git-sha1'; hex: string };

export interface BlobProgress {
  /** Bytes of this file on disk so far (resumed bytes included). */
  done: number;
  total: number;
  /** Bytes received in this session, for the rate. */
  received: number;
}

export interface BlobDownload {
  url: string;
  /** Request headers (Authorization only when `url` is the hub's own origin). */
  headers: Record<string, string>;
  /** The final blob path; `<path>.incomplete` holds the partial file. */
  blobPath: string;
  size: number;
  expected: ExpectedDigest;
  /** For messages. */
  what: string;
  signal?: AbortSignal;
  onProgress?: (p: BlobProgress) => void;
  /** How many dropped connections are resumed before giving up (default 3). */
  resumeAttempts?: number;
  /** Seconds without a byte before a transfer counts as dropped (default 30). */
  stallSeconds?: number;
}

export interface BlobResult {
  blobPath: string;
  sha256: string;
  /** Bytes transferred by this call (0 when the blob was already there). */
  downloaded: number;
  /** Bytes found in a partial file and kept. */
  resumedFrom: number;
}

const HASH_READ_CHUNK = 4 * 1024 * 1024;

function startDigests(expected: ExpectedDigest, size: number): { sha256: Hash; check?: Hash } {
  const sha256 = createHash('sha256');
  if (expected.algorithm === 'sha256') return { sha256 };
  // A git blob id is sha1 over "blob <size>\0" and the content.
  const check = createHash('sha1');
  check.update(`blob ${size}\0`);
  return { sha256, check };
}

async function hashExisting(path: string, length: number, digests: { sha256: Hash; check?: Hash }): Promise<void> {
  if (length === 0) return;
  for await (const chunk of createReadStream(path, { start: 0, end: length - 1, highWaterMark: HASH_READ_CHUNK })) {
    digests.sha256.update(chunk as Buffer);
    digests.check?.update(chunk as Buffer);
  }
}

class TransferDropped extends Error {}

interface DownloadResponse {
  statusCode: number;
  contentRange: string | undefined;
  body: Readable;
}

// The general HTTP client, for the rare response directGet does not read (a chunked body). No answer
// within the stall limit counts as a dropped transfer; receiveToFile watches the body for stalls.
function get(url: string, headers: Record<string, string>, signal: AbortSignal | undefined, stallMs: number): Promise<DownloadResponse> {
  return new Promise((resolve, reject) => {
    const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { headers, signal }, (response) => {
      request.setTimeout(0);
      const range = response.headers['content-range'];
      resolve({ statusCode: response.statusCode ?? 0, contentRange: range, body: response });
    });
    request.setTimeout(stallMs, () => request.destroy(new Error(`no answer for ${stallMs / 1000} s`)));
    request.on('error', (error) => reject(signal?.aborted ? new CancelledError() : new TransferDropped(error.message)));
    request.end();
  });
}

/** Drops a body that is not wanted (an error page, or a whole file sent in answer to a Range) by closing its connection. */
function discard(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}

/**
 * What a response to `GET` with `have` bytes on disk means: 'take' its body, or 'skip' it and start over
 * from zero (416: the partial file is not a prefix of this blob; 200: a server that ignores Range).
 * Throws for a Content-Range that does not start at `have` and for any other status.
 */
function judgeResponse(job: BlobDownload, have: number, statusCode: number, contentRange: string | undefined): Verdict {
  if (statusCode === 416 || (statusCode === 200 && have > 0)) return 'skip';
  if (statusCode === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange ?? '');
    if (!range || Number(range[1]) !== have || (range[3] !== '*' && Number(range[3]) !== job.size)) {
      throw new ModelError(`${job.what}: asked for bytes from ${have} but the server answered Content-Range '${serverText(contentRange)}'`);
    }
    return 'take';
  }
  if (statusCode === 200) return 'take';
  throw new ModelError(`${job.what}: the download server answered HTTP ${statusCode} for ${new URL(job.url).origin}`);
}

/** The same attempt through node:http, for a response that directGet does not read (not Content-Length framed). */
async function attemptWithHttp(job: BlobDownload, fd: number, headers: Record<string, string>, target: Omit<ReceiveTarget, 'fd' | 'offset'>, have: number): Promise<{ have: number; restart: boolean }> {
  const response = await get(job.url, headers, job.signal, target.stallMs);
  let verdict: Verdict;
  try {
    verdict = judgeResponse(job, have, response.statusCode, response.contentRange);
  } catch (error) {
    discard(response.body);
    throw error;
  }
  if (verdict === 'skip') {
    discard(response.body);
    return { have, restart: true };
  }
  return { have: await receiveToFile(response.body, { ...target, fd, offset: have }), restart: false };
}

/** One attempt from what is on disk; resolves to the bytes now on disk. */
async function attempt(job: BlobDownload, partial: string, digests: { sha256: Hash; check?: Hash }, have: number, session: { received: number }): Promise<{ have: number; restart: boolean }> {
  const headers = { ...job.headers, ...(have > 0 ? { range: `bytes=${have}-` } : {}) };
  const target = {
    limit: job.size,
    digests: digests.check ? [digests.sha256, digests.check] : [digests.sha256],
    what: job.what,
    signal: job.signal,
    stallMs: (job.stallSeconds ?? 30) * 1000,
    onReceived: (bytes: number) => (session.received += bytes),
    onWritten: (done: number) => job.onProgress?.({ done, total: job.size, received: session.received }),
  };
  const fd = openSync(partial, 'r+');
  try {
    const result = await directGet({ ...target, url: job.url, headers, fd, offset: have, judge: (status, header) => judgeResponse(job, have, status, header('content-range')) });
    if (result.kind === 'body') return { have: result.end, restart: false };
    if (result.kind === 'skipped') return { have, restart: true };
    if (result.kind === 'dropped') throw new TransferDropped(result.reason);
    return await attemptWithHttp(job, fd, headers, target, have);
  } finally {
    closeSync(fd);
  }
}

/** Downloads and verifies one blob unless it is already there. The caller holds the blob's lock. */
export async function downloadBlob(job: BlobDownload): Promise<BlobResult> {
  const partial = `${job.blobPath}.incomplete`;
  mkdirSync(dirname(job.blobPath), { recursive: true });
  let have = existsSync(partial) ? statSync(partial).size : 0;
  if (have > job.size) {
    truncateSync(partial, 0);
    have = 0;
  }
  if (!existsSync(partial)) closeSync(openSync(partial, 'w'));
  const resumedFrom = have;
  let digests = startDigests(job.expected, job.size);
  await hashExisting(partial, have, digests);
  const session = { received: 0 };
  let drops = 0;
  let lastDrop = '';
  let restarted = false;
  while (have < job.size) {
    if (job.signal?.aborted) throw new CancelledError();
    let result: { have: number; restart: boolean };
    try {
      result = await attempt(job, partial, digests, have, session);
    } catch (error) {
      if (!(error instanceof TransferDropped)) throw error;
      lastDrop = serverText(error.message);
      result = { have, restart: false };
    }
    if (result.restart) {
      if (restarted) throw new ModelError(`${job.what}: the server refused to resume and to restart the download`);
      restarted = true;
      truncateSync(partial, 0);
      digests = startDigests(job.expected, job.size);
      have = 0;
      continue;
    }
    // A cut that brought bytes is resumed at once; only attempts that bring nothing count against the limit.
    if (result.have === have && ++drops > (job.resumeAttempts ?? 3)) {
      throw new ModelError(`${job.what}: the transfer stopped at ${have} of ${job.size} bytes${lastDrop ? ` (${lastDrop})` : ''}; run again to resume from there`);
    }
    have = result.have;
  }
  const sha256 = digests.sha256.digest('hex');
  const actual = job.expected.algorithm === 'sha256' ? sha256 : digests.check!.digest('hex');
  if (actual !== job.expected.hex) {
    unlinkSync(partial);
    throw new ModelError(
      `${job.what}: the downloaded file is corrupt: its ${job.expected.algorithm} is ${actual} but the hub says ${job.expected.hex}; it was deleted and nothing was installed (run again to download it afresh)`,
    );
  }
  renameSync(partial, job.blobPath);
  return { blobPath: job.blobPath, sha256, downloaded: session.received, resumedFrom };
}
