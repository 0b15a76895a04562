// Patching weights that cannot be held in memory (an SDXL UNet in float32 is ~10 GB; Node 20 reads at most
// 4 GiB into one Buffer, and an ONNX protobuf cannot pass 2 GiB): each touched tensor is read by its byte
// range from the external-data file (64-bit offsets as plain numbers, exact below 2^53), patched, and
// appended to an overlay file; the graph is re-serialized with those initializers pointing into the
// overlay and every other one at its original bytes. onnxruntime resolves every location against one
// folder and refuses paths that leave it (links included, by their real paths), so the locations are
// rewritten relative to the nearest folder holding both the model and the overlay; the original files
// were checked to lie inside the model when they were read (onnxModelFiles.ts). onnxruntime then reads
// ranges as it does for any export, and the memory held here is one tensor at a time.
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, realpathSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { throwIfAborted } from '../errors';
import { readInitializerBytes, type ExternalDataFile, type OnnxModelFiles } from '../onnx/onnxModelFiles';
import { parseOnnxModel, type OnnxInitializer } from '../onnx/onnxProto';
import { parseEditableModel, writeEditedModel, type NewInitializer } from '../onnx/onnxWriter';

/** Where overlays are written; removed when the process exits. */
const OVERLAY_ROOT = join(tmpdir(), 'imgprompt-weight-overlays', String(process.pid));
const OVERLAY_FILE = 'patched.onnx_data';
/** Overlay tensors start on 4 KiB boundaries, as optimum aligns external data (memory mapping wants it). */
const ALIGN = 4096;
let cleanupRegistered = false;

function overlayDir(): string {
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    process.once('exit', () => rmSync(OVERLAY_ROOT, { recursive: true, force: true }));
  }
  const dir = join(OVERLAY_ROOT, randomUUID());
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * `files` with `patch` applied to the external initializers in `targets` (the others untouched), without
 * reading any external file whole. `patch` gets a tensor's stored bytes and changes them in place.
 */
export async function patchExternalByRange(
  files: OnnxModelFiles,
  targets: readonly OnnxInitializer[],
  patch: (init: OnnxInitializer, bytes: Uint8Array) => Promise<void>,
  signal?: AbortSignal,
): Promise<OnnxModelFiles> {
  const dir = overlayDir();
  const overlayPath = join(dir, OVERLAY_FILE);
  const added: NewInitializer[] = [];
  const fd = openSync(overlayPath, 'w');
  try {
    let position = 0;
    for (const init of targets) {
      throwIfAborted(signal);
      if (init.data.kind !== 'external') throw new Error(`internal: '${init.name}' is not stored externally`);
      const bytes = await readInitializerBytes(files, init);
      if (!bytes) throw new Error(`internal: '${init.name}' has no stored bytes`);
      await patch(init, bytes);
      position = Math.ceil(position / ALIGN) * ALIGN;
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written, position + written);
      added.push({ name: init.name, dataType: init.dataType, dims: init.dims, external: { location: OVERLAY_FILE, offset: position, length: bytes.length } });
      position += bytes.length;
    }
  } finally {
    closeSync(fd);
  }
  // Every external initializer is re-declared: the touched ones in the overlay, the others at their
  // original ranges, all relative to the common folder.
  const base = commonFolder(realpathSync(dirname(files.modelPath)), realpathSync(dir));
  const originals = new Map(files.externalData.map((f) => [f.location, relative(base, realpathSync(f.path))]));
  const touched = new Set(targets.map((t) => t.name));
  const moved: NewInitializer[] = files.info.initializers.flatMap((init): NewInitializer[] => {
    const d = init.data;
    if (d.kind !== 'external' || touched.has(init.name)) return [];
    const location = originals.get(d.location);
    if (location === undefined) throw new Error(`internal: external file '${d.location}' of '${init.name}' is not among the model's files`);
    return [{ name: init.name, dataType: init.dataType, dims: init.dims, external: { location, offset: d.offset, length: d.length } }];
  });
  const overlayLocation = relative(base, realpathSync(overlayPath));
  const relocated = added.map((a) => ('external' in a ? { ...a, external: { ...a.external, location: overlayLocation } } : a));
  const model = parseEditableModel(files.modelBytes);
  const removed = new Set([...touched, ...moved.map((m) => m.name)]);
  const modelBytes = writeEditedModel(model, { nodes: model.nodes, removedInitializers: removed, addedInitializers: [...moved, ...relocated] });
  const externalData: ExternalDataFile[] = files.externalData.map((f) => ({ ...f, location: originals.get(f.location)!, data: undefined }));
  const s = statSync(overlayPath);
  externalData.push({ location: overlayLocation, path: overlayPath, size: s.size, mtimeMs: s.mtimeMs, data: undefined });
  return { ...files, modelBytes, info: parseOnnxModel(modelBytes), externalData, externalDataFolder: base };
}

/** The deepest folder containing both (absolute, real) folders. */
function commonFolder(a: string, b: string): string {
  const x = a.split(sep);
  const y = b.split(sep);
  let n = 0;
  while (n < x.length && n < y.length && x[n] === y[n]) n++;
  return x.slice(0, n).join(sep) || sep;
}
