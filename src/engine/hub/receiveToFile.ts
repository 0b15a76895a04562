// Writes one HTTP response body (a Readable, from node:http) into a file at a given offset while hashing
// it, with the disk writes off the event loop. downloadBlob uses it only for the responses directGet
// does not read (a chunked body); directGet is the fast path. The stream's chunks are hashed as they
// arrive and handed, as a list, to one positional writev on libuv's thread pool while the next batch
// arrives, so receiving and writing overlap and no batch is concatenated. One write is in flight at a
// time, so the file always holds a contiguous prefix; the response is paused while too much is waiting
// for the disk, so memory stays bounded.
import type { Hash } from 'node:crypto';
import { writev } from 'node:fs';
import type { Readable } from 'node:stream';
import { CancelledError, ModelError } from '../errors';

/** A batch is written once this many bytes have arrived (a socket delivers 16–64 kB at a time). */
export const WRITE_BATCH_BYTES = 4 * 1024 * 1024;
/** Bytes received but not yet written before the response is paused until the disk catches up. */
export const MAX_UNWRITTEN_BYTES = 32 * 1024 * 1024;

export interface ReceiveTarget {
  fd: number;
  /** File offset of the body's first byte (bytes already on disk before it). */
  offset: number;
  /** The body must not run past this file offset (the announced size). */
  limit: number;
  /** Updated with every chunk as it arrives, in order. */
  digests: Hash[];
  /** For messages. */
  what: string;
  signal?: AbortSignal;
  /** Milliseconds without a byte received or written before the transfer counts as dropped. */
  stallMs: number;
  /** Called with the new end of the data on disk after each write. */
  onWritten?: (end: number) => void;
  /** Called with every chunk's length as it arrives (for the rate). */
  onReceived?: (bytes: number) => void;
}

/**
 * Resolves to the end offset of what is on disk once the body ended or the connection was cut (the caller
 * resumes from there); the digests then cover exactly the bytes written. Rejects with CancelledError when
 * `signal` aborted, and with a ModelError for a body longer than `limit` or a failed write.
 */
export function receiveToFile(response: Readable, target: ReceiveTarget): Promise<number> {
  return new Promise((resolve, reject) => {
    let written = target.offset;
    let received = target.offset;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    /** Bytes of the write in flight (0: none). */
    let writing = 0;
    let ended = false;
    let settled = false;
    let failure: Error | undefined;
    let lastActivity = Date.now();

    // A stall is checked once a second rather than by re-arming a timer for every chunk.
    const watchdog = setInterval(() => {
      if (Date.now() - lastActivity > target.stallMs) response.destroy(new Error(`no data for ${target.stallMs / 1000} s`));
    }, Math.min(1000, target.stallMs));

    const settle = () => {
      settled = true;
      clearInterval(watchdog);
      if (target.signal?.aborted) reject(new CancelledError());
      else if (failure) reject(failure);
      else resolve(written);
    };

    /** Starts the next write when none is in flight, and settles once the body ended and all of it is written. */
    const pump = () => {
      if (settled || writing > 0) return;
      if (failure) return settle();
      if (pendingBytes > 0 && (ended || pendingBytes >= WRITE_BATCH_BYTES)) {
        const batch = pending;
        const bytes = pendingBytes;
        const at = written;
        pending = [];
        pendingBytes = 0;
        writing = bytes;
        // libuv writes the whole list (looping over short writes and IOV_MAX) or reports the error.
        writev(target.fd, batch, at, (error, count) => {
          writing = 0;
          lastActivity = Date.now();
          if (error || count !== bytes) {
            failure = new ModelError(`${target.what}: cannot write the download: ${error ? error.message : `wrote ${count} of ${bytes} bytes`}`);
            // Stop the transfer; what was written before this batch stays on disk for a later resume.
            response.destroy();
          } else {
            written = at + bytes;
            target.onWritten?.(written);
            if (response.isPaused() && pendingBytes < MAX_UNWRITTEN_BYTES) response.resume();
          }
          pump();
        });
        return;
      }
      if (ended) settle();
    };

    const finish = (error?: Error) => {
      if (ended) return;
      ended = true;
      if (error instanceof ModelError) failure ??= error;
      // Everything received is still written, so a cut connection resumes after its last byte.
      pump();
    };

    response.on('data', (chunk: Buffer) => {
      if (ended || failure) return;
      lastActivity = Date.now();
      if (received + chunk.length > target.limit) {
        response.destroy(new ModelError(`${target.what}: the server sent more than the ${target.limit} bytes the hub announced`));
        return;
      }
      received += chunk.length;
      for (const digest of target.digests) digest.update(chunk);
      pending.push(chunk);
      pendingBytes += chunk.length;
      target.onReceived?.(chunk.length);
      if (pendingBytes + writing >= MAX_UNWRITTEN_BYTES) response.pause();
      pump();
    });
    response.on('end', () => finish());
    response.on('error', (error) => finish(error));
    // A connection that closes without 'end' or 'error' (an abort) ends the body too.
    response.on('close', () => finish());
  });
}
