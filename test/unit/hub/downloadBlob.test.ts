// downloadBlob and its direct reader (directGet) against loopback servers that answer the ways real
// HTTP servers and CDNs do: bodies many batches long, interim 103 responses, chunked bodies (read through
// node:http instead), 416 for a partial file that is not a prefix, cuts, stalls, cancellation, and answers
// that are not HTTP or overrun their Content-Length.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CancelledError, ModelError } from '../../../src/engine/errors';
import { downloadBlob } from '../../../src/engine/hub/downloadBlob';
import { directGet } from '../../../src/engine/hub/directGet';

const data = Buffer.alloc(5 * 1024 * 1024 + 4321);
for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 23;
const sha256 = createHash('sha256').update(data).digest('hex');

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Serves `data` with Range support, like the fake CDN; `override` may answer a request itself. */
function rangeServer(override?: (req: IncomingMessage, res: ServerResponse) => boolean): Handler {
  return (req, res) => {
    if (override?.(req, res)) return;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    if (start >= data.length) {
      res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
      return;
    }
    res.writeHead(m ? 206 : 200, { 'content-length': data.length - start, ...(m ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}) });
    res.end(data.subarray(start));
  };
}

async function listen<T extends Server | NetServer>(server: T): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('downloadBlob and directGet', () => {
  let root: string;
  const servers: (Server | NetServer)[] = [];
  const httpServer = async (handler: Handler) => {
    const server = createHttpServer(handler);
    servers.push(server);
    return listen(server);
  };
  /** A TCP server that writes `reply` to whatever connects (for answers node:http would not send). */
  const rawServer = async (reply: (socket: Socket) => void) => {
    const server = createNetServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => reply(socket));
    });
    servers.push(server);
    return listen(server);
  };
  const job = (url: string, extra: Partial<Parameters<typeof downloadBlob>[0]> = {}) => ({
    url,
    headers: { 'accept-encoding': 'identity' },
    blobPath: join(root, `blob-${Math.random().toString(36).slice(2)}`),
    size: data.length,
    expected: { algorithm: 'sha256' as const, hex: sha256 },
    what: 'test blob',
    ...extra,
  });

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'imgprompt-blob-'));
  });
  after(async () => {
    for (const server of servers) {
      if ('closeAllConnections' in server) server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    rmSync(root, { recursive: true, force: true });
  });

  test('a body many batches long is written exactly, hashed as it arrives, with progress up to its size', async () => {
    const url = await httpServer(rangeServer());
    const file = join(root, 'direct.bin');
    writeFileSync(file, '');
    const fd = openSync(file, 'r+');
    const digest = createHash('sha256');
    const ends: number[] = [];
    try {
      // 64 KiB batches: the four buffers run out again and again, so reads wait for writes (and spill).
      const result = await directGet({ url, headers: {}, fd, offset: 0, limit: data.length, digests: [digest], what: 't', stallMs: 5000, batchBytes: 64 * 1024, judge: () => 'take', onWritten: (end) => ends.push(end) });
      assert.deepEqual(result, { kind: 'body', end: data.length });
    } finally {
      closeSync(fd);
    }
    assert.equal(digest.digest('hex'), sha256);
    assert.ok(readFileSync(file).equals(data));
    assert.ok(ends.length > data.length / (64 * 1024) - 1, 'one write per batch');
    assert.ok(ends.every((end, i) => i === 0 || end > ends[i - 1]) && ends.at(-1) === data.length);
  });

  test('an interim 103 Early Hints answer before the file is skipped', async () => {
    const url = await httpServer(
      rangeServer((_req, res) => {
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
        return false;
      }),
    );
    const result = await downloadBlob(job(url));
    assert.equal(result.sha256, sha256);
    assert.ok(readFileSync(result.blobPath).equals(data));
  });

  test('a chunked body (no Content-Length) is read through node:http instead, verified the same way', async () => {
    let requests = 0;
    const url = await httpServer((_req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let at = 0; at < data.length; at += 1024 * 1024) res.write(data.subarray(at, at + 1024 * 1024));
      res.end();
    });
    const result = await downloadBlob(job(url));
    assert.equal(result.sha256, sha256);
    assert.equal(requests, 2, 'the direct request is closed at its headers and asked again');
    assert.ok(readFileSync(result.blobPath).equals(data));
  });

  test('416 for a partial file longer than a prefix of the blob: started again from zero', async () => {
    const ranges: (string | undefined)[] = [];
    const url = await httpServer(
      rangeServer((req, res) => {
        ranges.push(req.headers.range);
        if (req.headers.range === undefined) return false;
        res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
        return true;
      }),
    );
    const j = job(url);
    writeFileSync(`${j.blobPath}.incomplete`, data.subarray(0, 1000));
    const result = await downloadBlob(j);
    assert.deepEqual(ranges, ['bytes=1000-', undefined]);
    assert.equal(result.resumedFrom, 1000);
    assert.ok(readFileSync(result.blobPath).equals(data));
  });

  test('a cancelled download keeps what it received, and the next call resumes from there', async () => {
    const controller = new AbortController();
    const url = await httpServer(
      rangeServer((req, res) => {
        if (req.headers.range) return false;
        // The first request sends 2 MiB (half a batch), holds the connection open, and the user cancels.
        res.writeHead(200, { 'content-length': data.length });
        res.write(data.subarray(0, 2 * 1024 * 1024), () => setTimeout(() => controller.abort(), 300));
        return true;
      }),
    );
    const j = job(url, { signal: controller.signal });
    await assert.rejects(downloadBlob(j), (e: unknown) => e instanceof CancelledError);
    assert.equal(statSync(`${j.blobPath}.incomplete`).size, 2 * 1024 * 1024);
    const result = await downloadBlob({ ...j, signal: undefined, onProgress: undefined });
    assert.equal(result.resumedFrom, 2 * 1024 * 1024);
    assert.ok(readFileSync(result.blobPath).equals(data));
  });

  test('on a slow link what has arrived is written (and reported) about once a second, not only per full batch', async () => {
    const url = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-length': data.length });
      // 100 kB, a pause, 100 kB more, a pause, then the rest.
      res.write(data.subarray(0, 100_000));
      setTimeout(() => res.write(data.subarray(100_000, 200_000)), 1200);
      setTimeout(() => res.end(data.subarray(200_000)), 2400);
    });
    const progress: number[] = [];
    const result = await downloadBlob(job(url, { onProgress: (p) => progress.push(p.done) }));
    assert.ok(readFileSync(result.blobPath).equals(data));
    assert.ok(progress.some((done) => done > 0 && done <= 200_000), `progress before the first full batch: ${progress.slice(0, 5).join(', ')}`);
  });

  test('a server that never answers counts as a dropped transfer and is given up after the resume attempts', async () => {
    const url = await rawServer(() => undefined);
    const j = job(url, { stallSeconds: 0.2, resumeAttempts: 1 });
    await assert.rejects(downloadBlob(j), (e: unknown) => e instanceof ModelError && /stopped at 0 of .* \(no answer for 0.2 s\)/.test(e.message));
    assert.equal(existsSync(j.blobPath), false);
  });

  test('an answer that is not HTTP, and a body longer than its Content-Length, are refused and nothing is installed', async () => {
    const notHttp = await rawServer((socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    const a = job(notHttp);
    await assert.rejects(downloadBlob(a), (e: unknown) => e instanceof ModelError && /not an HTTP\/1\.1 response/.test(e.message));
    assert.equal(existsSync(a.blobPath), false);
    const overrun = await rawServer((socket) => socket.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'), data.subarray(0, 20)])));
    const b = job(overrun);
    await assert.rejects(downloadBlob(b), (e: unknown) => e instanceof ModelError && /more than the 10 bytes it announced/.test(e.message));
    assert.equal(existsSync(b.blobPath), false);
  });

  test('a Content-Range that does not start where the partial file ends is refused', async () => {
    const url = await httpServer((_req, res) => {
      res.writeHead(206, { 'content-length': 10, 'content-range': `bytes 0-9/${data.length}` }).end(data.subarray(0, 10));
    });
    const j = job(url);
    writeFileSync(`${j.blobPath}.incomplete`, data.subarray(0, 500));
    await assert.rejects(downloadBlob(j), (e: unknown) => e instanceof ModelError && /asked for bytes from 500/.test(e.message));
    assert.equal(existsSync(j.blobPath), false);
  });
});
