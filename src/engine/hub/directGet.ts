// One HTTP/1.1 GET whose body is read straight into the buffers that are written to the file. Profiling
// the download of a 256 MB blob showed the client thread, not sha256, was the limit: node:http copies every
// body chunk into a fresh buffer (undici too allocates one per socket read), so 256 MB of short-lived
// buffers also drove V8 into a major GC every few dozen megabytes. Here the socket reads (net/tls
// `onread`) land in a few preallocated 4 MiB batch buffers; each batch is hashed as it fills and written
// with one positional write on libuv's thread pool while the next fills. Nothing is allocated per read
// and no byte is copied in user space: the client's work is the kernel's copy, sha256 and the write,
// as curl's is. The response is framed by RFC 9112: a status line, header fields, then Content-Length
// bytes. A response framed any other way (chunked, or ended by closing) is not read here: the caller
// falls back to node:http for it.
import { write } from 'node:fs';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { CancelledError, ModelError } from '../errors';
import type { ReceiveTarget } from './receiveToFile';

const DEFAULT_BATCH_BYTES = 4 * 1024 * 1024;
const BATCHES = 4;
/** Response headers longer than this are refused (real CDNs send a few kB). */
const MAX_HEADER_BYTES = 64 * 1024;

/** What the caller makes of the status and headers: take the body, or close and report the status. */
export type Verdict = 'take' | 'skip';

/** One GET into the file: where its body goes (as for receiveToFile), what to request and how to judge the answer. */
export interface DirectGet extends ReceiveTarget {
  url: string;
  /** Request header fields (Host and Connection are added). */
  headers: Record<string, string>;
  /** Judges the response before any body byte is written; may throw a ModelError to refuse it. */
  judge: (statusCode: number, header: (name: string) => string | undefined) => Verdict;
  /** Size of each of the four batch buffers (default 4 MiB; tests make it small to exercise the waits). */
  batchBytes?: number;
}

export type DirectResult =
  /** The body was taken: `end` is the end of the data on disk (short of the body's end when the connection was cut). */
  | { kind: 'body'; end: number }
  /** The judge skipped the response. */
  | { kind: 'skipped'; statusCode: number }
  /** A 2xx body not framed by Content-Length: nothing was written. */
  | { kind: 'unframed' }
  /** No response came (refused, reset, stalled): nothing was written. */
  | { kind: 'dropped'; reason: string };

interface Head {
  statusCode: number;
  fields: Map<string, string>;
}

/** Parses one header block (without its final empty line); undefined when it is not HTTP/1.x. */
function parseHead(text: string): Head | undefined {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]);
  if (!status) return undefined;
  const fields = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    // A field without a name, or a folded continuation line (obsolete, RFC 9112 §5.2): not a response we read.
    if (colon <= 0 || /^[ \t]/.test(line)) return undefined;
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const before = fields.get(name);
    fields.set(name, before === undefined ? value : `${before}, ${value}`);
  }
  return { statusCode: Number(status[1]), fields };
}

function requestText(url: URL, headers: Record<string, string>): string {
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(value)) throw new ModelError(`a download request header '${name}' is not a valid HTTP field`);
    if (!/^(host|connection)$/i.test(name)) lines.push(`${name}: ${value}`);
  }
  lines.push('Connection: close', '', '');
  return lines.join('\r\n');
}

/** GETs `job.url` and writes a Content-Length framed body at `job.offset` (see the file header). */
export function directGet(job: DirectGet): Promise<DirectResult> {
  const url = new URL(job.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new ModelError(`${job.what}: cannot download from a ${url.protocol} URL`));
  const request = requestText(url, job.headers);
  const BATCH_BYTES = job.batchBytes ?? DEFAULT_BATCH_BYTES;
  return new Promise((resolve, reject) => {
    const free: Buffer[] = Array.from({ length: BATCHES }, () => Buffer.allocUnsafeSlow(BATCH_BYTES));
    /** Where a read lands when every batch is full or being written (copied into a batch afterwards). */
    const spill = Buffer.allocUnsafeSlow(Math.min(256 * 1024, BATCH_BYTES));
    let current: Buffer | undefined = free.pop();
    let fill = 0;
    /** The region the socket was last given to read into; the read's bytes are moved to `fill` of `current` when that changed since. */
    let handed: Buffer = spill;
    let handedAt = 0;
    let lastEnqueue = Date.now();
    const queue: { buffer: Buffer; bytes: number }[] = [];
    let writing = false;
    let head: Head | undefined;
    let bodyLength = 0;
    let bodyReceived = 0;
    let written = job.offset;
    let ended = false;
    let settled = false;
    let outcome: DirectResult | undefined;
    let failure: Error | undefined;
    let lastActivity = Date.now();

    const settle = () => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      job.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (job.signal?.aborted) reject(new CancelledError());
      else if (failure) reject(failure);
      else resolve(outcome ?? { kind: 'body', end: written });
    };
    /** Stops reading; settles once the writes already queued are on disk. */
    const finish = (result?: DirectResult, error?: Error) => {
      if (ended) return;
      ended = true;
      outcome ??= result;
      if (error && !failure) failure = error;
      socket.destroy();
      if (head && fill > 0 && current && !failure) enqueue();
      pump();
    };
    const onAbort = () => finish();
    const watchdog = setInterval(() => {
      if (Date.now() - lastActivity > job.stallMs) finish(head ? undefined : { kind: 'dropped', reason: `no answer for ${job.stallMs / 1000} s` });
    }, Math.min(1000, job.stallMs));

    const pump = () => {
      if (writing || settled) return;
      const next = queue.shift();
      if (!next || failure) {
        if (ended) settle();
        return;
      }
      writing = true;
      const at = written;
      write(job.fd, next.buffer, 0, next.bytes, at, (error, count) => {
        writing = false;
        lastActivity = Date.now();
        if (error || count !== next.bytes) {
          failure ??= new ModelError(`${job.what}: cannot write the download: ${error ? error.message : `wrote ${count} of ${next.bytes} bytes`}`);
          queue.length = 0;
          finish();
        } else {
          written = at + next.bytes;
          job.onWritten?.(written);
        }
        free.push(next.buffer);
        if (!current && !ended) {
          current = free.pop();
          socket.resume();
        }
        pump();
      });
    };
    const enqueue = () => {
      lastEnqueue = Date.now();
      queue.push({ buffer: current!, bytes: fill });
      current = free.pop();
      fill = 0;
      pump();
    };

    /** Reads the header block(s) at the start of `current`; true once the body may follow. */
    const readHead = (): boolean => {
      for (;;) {
        const text = current!.toString('latin1', 0, fill);
        const end = text.indexOf('\r\n\r\n');
        if (end < 0) {
          if (fill >= Math.min(MAX_HEADER_BYTES, BATCH_BYTES)) finish(undefined, new ModelError(`${job.what}: the download server's response headers are longer than ${MAX_HEADER_BYTES} bytes`));
          return false;
        }
        const parsed = parseHead(text.slice(0, end));
        if (!parsed) {
          finish(undefined, new ModelError(`${job.what}: the download server's answer is not an HTTP/1.1 response`));
          return false;
        }
        current!.copyWithin(0, end + 4, fill);
        fill -= end + 4;
        // An interim response (103 Early Hints, 100 Continue) precedes the real one.
        if (parsed.statusCode >= 100 && parsed.statusCode < 200) continue;
        let verdict: Verdict;
        try {
          verdict = job.judge(parsed.statusCode, (name) => parsed.fields.get(name.toLowerCase()));
        } catch (error) {
          finish(undefined, error as Error);
          return false;
        }
        if (verdict === 'skip') {
          finish({ kind: 'skipped', statusCode: parsed.statusCode });
          return false;
        }
        const length = parsed.fields.get('content-length');
        if (parsed.fields.has('transfer-encoding') || length === undefined || !/^\d{1,16}$/.test(length)) {
          finish({ kind: 'unframed' });
          return false;
        }
        bodyLength = Number(length);
        if (job.offset + bodyLength > job.limit) {
          finish(undefined, new ModelError(`${job.what}: the server announced ${bodyLength} bytes from offset ${job.offset}, more than the ${job.limit} bytes the hub announced`));
          return false;
        }
        head = parsed;
        return true;
      }
    };

    /** Takes `bytes` new body bytes at `fill` of `current`. */
    const takeBody = (bytes: number) => {
      if (bodyReceived + bytes > bodyLength) {
        finish(undefined, new ModelError(`${job.what}: the server sent more than the ${bodyLength} bytes it announced`));
        return;
      }
      const chunk = current!.subarray(fill, fill + bytes);
      for (const digest of job.digests) digest.update(chunk);
      fill += bytes;
      bodyReceived += bytes;
      job.onReceived?.(bytes);
      if (bodyReceived === bodyLength) {
        enqueue();
        finish();
      } else if (fill === BATCH_BYTES) enqueue();
    };

    const onRead = (bytes: number): boolean => {
      if (ended) return false;
      lastActivity = Date.now();
      // Read into the spill buffer while no batch was free (reading resumes only once one is): move the
      // bytes to where the batch continues. Nothing else moves `current` or `fill` between reads.
      if (handed !== current || handedAt !== fill) {
        if (!current || bytes > BATCH_BYTES - fill) {
          finish(undefined, new ModelError(`${job.what}: internal error: a read landed outside the download buffers`));
          return false;
        }
        handed.copy(current, fill, handedAt, handedAt + bytes);
      }
      if (!head) {
        fill += bytes;
        if (!readHead()) return !ended;
        // Body bytes that came with the header are at the start of `current` now.
        const already = fill;
        fill = 0;
        if (already > 0) takeBody(already);
      } else {
        takeBody(bytes);
        // On a slow link a batch takes long to fill: what has come is written at least once a second, so
        // progress moves and a cut or a crash loses little.
        if (!ended && fill > 0 && !writing && queue.length === 0 && Date.now() - lastEnqueue > 1000) enqueue();
      }
      if (ended) return false;
      if (!current) {
        socket.pause();
        return false;
      }
      return true;
    };

    const connectOptions = {
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      onread: {
        // Room left in the batch being filled (at most what still fits), or the spill buffer when none is free.
        buffer: () => {
          handed = current ?? spill;
          handedAt = current ? fill : 0;
          return current ? current.subarray(fill, Math.min(BATCH_BYTES, fill + (head ? BATCH_BYTES : MAX_HEADER_BYTES))) : spill;
        },
        callback: onRead,
      },
    };
    const socket: Socket =
      url.protocol === 'https:'
        ? tlsConnect({ ...connectOptions, servername: isIP(connectOptions.host) ? undefined : connectOptions.host, ALPNProtocols: ['http/1.1'] }, () => socket.write(request))
        : netConnect(connectOptions, () => socket.write(request));
    socket.on('error', (error) => finish(head ? undefined : { kind: 'dropped', reason: error.message }));
    // The server closed: a complete body has already finished; anything else is a cut to resume from.
    socket.on('close', () => finish(head ? undefined : { kind: 'dropped', reason: 'the connection closed before a response' }));
    if (job.signal?.aborted) finish();
    else job.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
