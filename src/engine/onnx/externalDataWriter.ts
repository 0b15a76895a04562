// The external-data file of a model GraphBuilder writes: tensors appended one after another, each at a
// 64-byte aligned offset (as onnx's converter aligns large ones), recorded by the graph as
// `location`/`offset`/`length`. Offsets are fixed when a tensor is appended, so the bytes can be
// written later: with `writeBehind`, appends go to libuv's threads (positional writes) while the caller
// reads and prepares the next tensor, and the caller paces itself with `drain` and ends with `finish`.
// Without it every append is written before it returns (what tests and small graphs use).
// `appendRange` copies a byte range of another file (a checkpoint's tensor stored as the graph needs it)
// through a few reused chunk buffers, so those bytes never become a JavaScript array at all.
//
// With `linkSources`, `appendRange` copies nothing: the source file gets a hard link in this file's folder
// (`checkpoint.safetensors`; one per source file) and the graph's initializer points into it at the
// range's own offset. Writing a converted fp16 checkpoint was the conversion's remaining cost (~1 s per
// GB); the link costs one directory entry. onnxruntime refuses external data whose real path leaves the
// model folder, and a hard link is a plain file inside it. It shares the user's file's inode, so nothing
// may ever write into it (the engine opens model files read-only; patches go to memory or overlays
// elsewhere), and a later in-place edit of the user's file shows through: `linkedSources` gives each
// link's identity for the folder to record (checkpoint/convertedCheckpoints.ts checks it). Where the
// link cannot be made (another filesystem, no permission, a filesystem without hard links) or the range
// starts at an odd byte (float16 wants 2-byte alignment), the range is copied as before.
import { closeSync, linkSync, openSync, read, readSync, realpathSync, statSync, write, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface ExternalDataWriterOptions {
  /** Write appended tensors in the background; the caller must call `finish` (and keep each buffer unchanged until `whenWritten`). */
  readonly writeBehind?: boolean;
  /** Reference ranges of other files through hard links beside this file instead of copying them. */
  readonly linkSources?: boolean;
  /** Makes a hard link (fs.linkSync by default; tests inject failures). */
  readonly link?: LinkFunction;
}

export type LinkFunction = (existingPath: string, newPath: string) => void;

/** A hard link this writer made to a source file, with the identity it had then. */
export interface LinkedSource {
  /** The link's name in the writer's folder (the `location` graphs record). */
  readonly location: string;
  /** The source's real path when it was linked. */
  readonly source: string;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

/** Where appended bytes are: in this writer's file, or in a linked source file. */
export interface AppendedBytes {
  readonly location: string;
  readonly offset: number;
  readonly length: number;
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
  /** Each source path's link (null: linking failed, so its ranges are copied). */
  private readonly links = new Map<string, LinkedSource | null>();
  private readonly linkSources: boolean;
  private readonly link: LinkFunction;

  constructor(
    readonly path: string,
    /** The `location` graphs record: the file's name relative to model.onnx. */
    readonly location: string,
    options: ExternalDataWriterOptions = {},
  ) {
    this.fd = openSync(path, 'w');
    this.writeBehind = options.writeBehind ?? false;
    this.linkSources = options.linkSources ?? false;
    this.link = options.link ?? linkSync;
  }

  /** The hard links made so far, with their identities at the time. */
  linkedSources(): LinkedSource[] {
    return [...this.links.values()].filter((l): l is LinkedSource => l !== null);
  }

  /** The link to `path` beside this file, made on first use; null where it cannot be made. */
  private linkTo(path: string): LinkedSource | null {
    let linked = this.links.get(path);
    if (linked !== undefined) return linked;
    const count = [...this.links.values()].filter((l) => l !== null).length;
    const location = count === 0 ? 'checkpoint.safetensors' : `checkpoint-${count + 1}.safetensors`;
    try {
      const source = realpathSync(path);
      const at = join(dirname(this.path), location);
      this.link(source, at);
      const s = statSync(at);
      linked = { location, source, ino: s.ino, size: s.size, mtimeMs: s.mtimeMs };
    } catch {
      linked = null; // EXDEV, EPERM, ENOTSUP, EMLINK...: the ranges are copied instead
    }
    this.links.set(path, linked);
    return linked;
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
   * With linkSources, where the source can be linked and the range starts at an even byte, nothing is
   * copied: the bytes are where they are, in the link.
   */
  appendRange(range: FileRange): AppendedBytes {
    if (this.closed) throw new Error(`internal: ${this.path} was already closed`);
    const linked = this.linkSources && range.position % 2 === 0 ? this.linkTo(range.path) : null;
    if (linked) return { location: linked.location, offset: range.position, length: range.length };
    return { location: this.location, ...this.copyRange(range) };
  }

  private copyRange(range: FileRange): { offset: number; length: number } {
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
