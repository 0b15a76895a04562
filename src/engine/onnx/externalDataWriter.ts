// The external-data file of a model GraphBuilder writes: tensors appended one after another, each at a
// 64-byte aligned offset (as onnx's converter aligns large ones), recorded by the graph as
// `location`/`offset`/`length`. Offsets are fixed when a tensor is appended, so the bytes can be
// written later: with `writeBehind`, appends go to libuv's threads (positional writes) while the caller
// reads and prepares the next tensor, and the caller paces itself with `drain` and ends with `finish`.
// Without it every append is written before it returns (what tests and small graphs use).
// `appendRange` copies a byte range of another file (a checkpoint's tensor stored as the graph needs it)
// through a few reused chunk buffers, so those bytes never become a JavaScript array at all.
import { closeSync, openSync, read, readSync, write, writeSync } from 'node:fs';

export interface ExternalDataWriterOptions {
  /** Write appended tensors in the background; the caller must call `finish` (and keep each buffer unchanged until `whenWritten`). */
  readonly writeBehind?: boolean;
}

/** A byte range of another file, copied on as it is. */
export interface FileRange {
  readonly path: string;
  readonly position: number;
  readonly length: number;
}

/** The chunk each range copy moves at a time, and how many copies run at once (each holds one chunk). */
const COPY_CHUNK_BYTES = 16 * 1024 * 1024;
const COPIERS = 2;

interface CopyJob {
  readonly range: FileRange;
  readonly offset: number;
}

export class ExternalDataWriter {
  private readonly fd: number;
  private position = 0;
  private closed = false;
  private readonly writeBehind: boolean;
  /** Bytes appended but not yet written, and the writes of each buffer still in flight. */
  private pendingBytes = 0;
  private readonly inFlight = new Map<ArrayBufferLike, Promise<void>>();
  private readonly all = new Set<Promise<void>>();
  private failure: Error | undefined;
  private waiters: (() => void)[] = [];
  /** Range copies waiting for a copier, the copiers running, and the source files they read (opened once). */
  private readonly copies: CopyJob[] = [];
  private copiers = 0;
  private readonly sources = new Map<string, number>();
  /** Chunk buffers of copiers that finished, for the next ones (a fresh 16 MiB per copy costs page faults and collections). */
  private readonly chunks: Uint8Array[] = [];

  constructor(
    readonly path: string,
    /** The `location` graphs record: the file's name relative to model.onnx. */
    readonly location: string,
    options: ExternalDataWriterOptions = {},
  ) {
    this.fd = openSync(path, 'w');
    this.writeBehind = options.writeBehind ?? false;
  }

  /** Appends `bytes` (written now, or in the background with writeBehind); returns where they are. */
  append(bytes: Uint8Array): { offset: number; length: number } {
    const offset = this.reserve(bytes.length);
    if (!this.writeBehind) {
      for (let done = 0; done < bytes.length; ) done += writeSync(this.fd, bytes, done, bytes.length - done, offset + done);
      return { offset, length: bytes.length };
    }
    this.track(bytes, offset);
    return { offset, length: bytes.length };
  }

  /**
   * Appends the bytes of `range` (another file's), copied now or, with writeBehind, in the background;
   * returns where they are. A source that ends before the range does fails the copy (naming the source).
   */
  appendRange(range: FileRange): { offset: number; length: number } {
    const offset = this.reserve(range.length);
    const source = this.sourceFd(range.path);
    if (!this.writeBehind) {
      const chunk = new Uint8Array(Math.min(COPY_CHUNK_BYTES, range.length));
      for (let done = 0; done < range.length; ) {
        const n = readSync(source, chunk, 0, Math.min(chunk.length, range.length - done), range.position + done);
        if (n === 0) throw truncated(range, done);
        for (let w = 0; w < n; ) w += writeSync(this.fd, chunk, w, n - w, offset + done + w);
        done += n;
      }
      return { offset, length: range.length };
    }
    this.pendingBytes += range.length;
    this.copies.push({ range, offset });
    while (this.copiers < COPIERS && this.copies.length > 0) this.startCopier();
    return { offset, length: range.length };
  }

  /**
   * The 64-byte aligned offset for the next `length` bytes, with the padding before it written (now, or
   * queued with writeBehind); refuses a closed or failed writer.
   */
  private reserve(length: number): number {
    if (this.closed) throw new Error(`internal: ${this.path} was already closed`);
    if (this.failure) throw this.failure;
    const pad = (64 - (this.position % 64)) % 64;
    const offset = this.position + pad;
    this.position = offset + length;
    if (pad && !this.writeBehind) writeSync(this.fd, new Uint8Array(pad), 0, pad, offset - pad);
    else if (pad) this.track(new Uint8Array(pad), offset - pad);
    return offset;
  }

  get size(): number {
    return this.position;
  }

  /** Resolves when every write of `buffer` appended so far is on its way to disk (the buffer may then be reused). */
  whenWritten(buffer: ArrayBufferLike): Promise<void> {
    return this.inFlight.get(buffer) ?? Promise.resolve();
  }

  /** Resolves when at most `maxPendingBytes` are waiting to be written (bounds the memory the queue holds). */
  async drain(maxPendingBytes: number): Promise<void> {
    while (this.pendingBytes > maxPendingBytes && !this.failure) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.failure) throw this.failure;
  }

  /** Waits for every write, then closes the file; throws the first write error (the file is then incomplete). */
  async finish(): Promise<void> {
    await this.settle();
    this.close();
    if (this.failure) throw this.failure;
  }

  /** Waits for the writes in flight, ignoring their errors (before removing a failed conversion's files). */
  async settle(): Promise<void> {
    while (this.all.size > 0) await Promise.allSettled([...this.all]);
  }

  /** Closes the file (idempotent). With writeBehind, call `settle` or `finish` first. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    for (const fd of this.sources.values()) closeSync(fd);
    this.sources.clear();
  }

  private sourceFd(path: string): number {
    let fd = this.sources.get(path);
    if (fd === undefined) this.sources.set(path, (fd = openSync(path, 'r')));
    return fd;
  }

  /** A copier: takes range copies off the queue until it is empty, each chunk read then written with one reused buffer. */
  private startCopier(): void {
    this.copiers++;
    const chunk = this.chunks.pop() ?? new Uint8Array(COPY_CHUNK_BYTES);
    const run = async (): Promise<void> => {
      for (let job = this.copies.shift(); job; job = this.copies.shift()) {
        const { range, offset } = job;
        try {
          if (this.failure) continue;
          const fd = this.sourceFd(range.path);
          for (let done = 0; done < range.length; ) {
            const n = await new Promise<number>((resolve, reject) => read(fd, chunk, 0, Math.min(chunk.length, range.length - done), range.position + done, (error, bytes) => (error ? reject(error) : resolve(bytes))));
            if (n === 0) throw truncated(range, done);
            await this.writeAll(chunk.subarray(0, n), offset + done);
            done += n;
          }
        } catch (error) {
          this.failure ??= new Error(`writing ${this.path} failed: ${error instanceof Error ? error.message : String(error)}`);
        } finally {
          this.pendingBytes -= range.length;
          this.wake();
        }
      }
    };
    const done = run().finally(() => {
      this.chunks.push(chunk);
      this.copiers--;
      this.all.delete(done);
    });
    this.all.add(done);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private track(bytes: Uint8Array, position: number): void {
    this.pendingBytes += bytes.length;
    const done = this.writeAll(bytes, position).then(
      () => undefined,
      (error: unknown) => {
        this.failure ??= new Error(`writing ${this.path} failed: ${error instanceof Error ? error.message : String(error)}`);
      },
    );
    const previous = this.inFlight.get(bytes.buffer);
    const chained = previous ? Promise.all([previous, done]).then(() => undefined) : done;
    this.inFlight.set(bytes.buffer, chained);
    this.all.add(chained);
    void chained.then(() => {
      this.all.delete(chained);
      if (this.inFlight.get(bytes.buffer) === chained) this.inFlight.delete(bytes.buffer);
      this.pendingBytes -= bytes.length;
      this.wake();
    });
  }

  private async writeAll(bytes: Uint8Array, position: number): Promise<void> {
    for (let done = 0; done < bytes.length; ) {
      done += await new Promise<number>((resolve, reject) => write(this.fd, bytes, done, bytes.length - done, position + done, (error, written) => (error ? reject(error) : resolve(written))));
    }
  }
}

function truncated(range: FileRange, done: number): Error {
  return new Error(`${range.path} ended ${range.length - done} bytes before the tensor at byte ${range.position} did: the file was truncated or changed while it was converted`);
}
