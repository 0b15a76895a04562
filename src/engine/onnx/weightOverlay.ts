// Weights added to or changed in a model too large to hold in memory (an SDXL UNet in float32 is ~10 GB;
// Node 20 reads at most 4 GiB into one Buffer, and an ONNX protobuf cannot pass 2 GiB): each new tensor is
// appended to an overlay file, and the graph is re-serialized with those initializers pointing into the
// overlay and every other external one at its original bytes. onnxruntime resolves every location against
// one folder and refuses paths that leave it (links included, by their real paths), so the locations are
// rewritten relative to the nearest folder holding both the model and the overlay; the original files
// were checked to lie inside the model when they were read (onnxModelFiles.ts). Used by LoRA range
// patching (lora/rangePatch.ts) and by the int8 variant of a large model (precision.ts).
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, realpathSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import type { ExternalDataFile, OnnxModelFiles } from './onnxModelFiles';
import { parseOnnxModel } from './onnxProto';
import { writeEditedModel, type EditableModel, type ModelEdit, type NewInitializer } from './onnxWriter';

/** Where overlays are written; removed when the process exits. */
const OVERLAY_ROOT = join(tmpdir(), 'imgprompt-weight-overlays', String(process.pid));
const OVERLAY_FILE = 'patched.onnx_data';
/** Overlay tensors start on 4 KiB boundaries, as optimum aligns external data (memory mapping wants it). */
const ALIGN = 4096;
let cleanupRegistered = false;

/**
 * Overlay folders made elsewhere (named .tmp-*, which the optimized-graph cache prunes if a crash leaves
 * one); removed when the process exits.
 */
const elsewhere = new Set<string>();

function overlayDir(parent?: string): string {
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    process.once('exit', () => {
      for (const dir of [OVERLAY_ROOT, ...elsewhere]) rmSync(dir, { recursive: true, force: true });
    });
  }
  const dir = parent === undefined ? join(OVERLAY_ROOT, randomUUID()) : join(parent, `.tmp-overlay-${process.pid}-${randomUUID()}`);
  mkdirSync(dir, { recursive: true });
  if (parent !== undefined) elsewhere.add(dir);
  return dir;
}

/** An overlay file being written: tensors appended one at a time, none held after its append. */
export class WeightOverlay {
  readonly path: string;
  private readonly fd: number;
  private position = 0;
  private closed = false;
  private readonly added: NewInitializer[] = [];

  /** `dir`: the folder to make the overlay's own folder in (default: the system's temporary folder). */
  constructor(dir?: string) {
    this.path = join(overlayDir(dir), OVERLAY_FILE);
    this.fd = openSync(this.path, 'w');
  }

  /** Writes `bytes` as initializer `name` (a new one, or the new bytes of an existing one). */
  append(name: string, dataType: number, dims: readonly number[], bytes: Uint8Array): void {
    if (this.closed) throw new Error(`internal: overlay ${this.path} was already closed`);
    this.position = Math.ceil(this.position / ALIGN) * ALIGN;
    for (let written = 0; written < bytes.length; ) written += writeSync(this.fd, bytes, written, bytes.length - written, this.position + written);
    this.added.push({ name, dataType, dims: [...dims], external: { location: OVERLAY_FILE, offset: this.position, length: bytes.length } });
    this.position += bytes.length;
  }

  get names(): ReadonlySet<string> {
    return new Set(this.added.map((a) => a.name));
  }

  /**
   * Closes and removes the overlay (its own folder). A session made from it maps the file: on Linux and
   * macOS the mapping outlives the name; where the OS refuses (Windows), it goes when the process exits.
   */
  discard(): void {
    this.close();
    try {
      rmSync(dirname(this.path), { recursive: true, force: true });
    } catch {
      // Still mapped: removed at exit.
    }
  }

  /** Closes the file (idempotent); `apply` closes it too. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  /**
   * `files` with `model` re-serialized by `edit`, the overlay's tensors added (replacing initializers of
   * the same names) and every other external initializer re-declared at its original bytes, all
   * relative to the nearest folder holding both. The result reads every weight from disk: copies of
   * external files held in memory are dropped, so they must hold the files' bytes unchanged.
   */
  apply(files: OnnxModelFiles, model: EditableModel, edit: ModelEdit): OnnxModelFiles {
    this.close();
    const base = commonFolder(realpathSync(dirname(files.modelPath)), realpathSync(dirname(this.path)));
    const originals = new Map(files.externalData.map((f) => [f.location, relative(base, realpathSync(f.path))]));
    const replaced = this.names;
    const removedElsewhere = edit.removedInitializers ?? new Set<string>();
    const moved: NewInitializer[] = files.info.initializers.flatMap((init): NewInitializer[] => {
      const d = init.data;
      if (d.kind !== 'external' || replaced.has(init.name) || removedElsewhere.has(init.name)) return [];
      const location = originals.get(d.location);
      if (location === undefined) throw new Error(`internal: external file '${d.location}' of '${init.name}' is not among the model's files`);
      return [{ name: init.name, dataType: init.dataType, dims: init.dims, external: { location, offset: d.offset, length: d.length } }];
    });
    const overlayLocation = relative(base, realpathSync(this.path));
    const relocated = this.added.map((a) => ('external' in a ? { ...a, external: { ...a.external, location: overlayLocation } } : a));
    const removed = new Set([...removedElsewhere, ...replaced, ...moved.map((m) => m.name)]);
    const modelBytes = writeEditedModel(model, { ...edit, removedInitializers: removed, addedInitializers: [...(edit.addedInitializers ?? []), ...moved, ...relocated] });
    const externalData: ExternalDataFile[] = files.externalData.map((f) => ({ ...f, location: originals.get(f.location)!, data: undefined }));
    const s = statSync(this.path);
    externalData.push({ location: overlayLocation, path: this.path, size: s.size, mtimeMs: s.mtimeMs, data: undefined });
    return { ...files, modelBytes, info: parseOnnxModel(modelBytes), externalData, externalDataFolder: base };
  }
}

/** The deepest folder containing both (absolute, real) folders. */
function commonFolder(a: string, b: string): string {
  const x = a.split(sep);
  const y = b.split(sep);
  let n = 0;
  while (n < x.length && n < y.length && x[n] === y[n]) n++;
  return x.slice(0, n).join(sep) || sep;
}
