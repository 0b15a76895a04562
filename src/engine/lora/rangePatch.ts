// Patching weights that cannot be held in memory (an SDXL UNet in float32 is ~10 GB): each touched
// tensor is read by its byte range from its external-data file (64-bit offsets as plain numbers, exact
// below 2^53), patched, and appended to an overlay (onnx/weightOverlay.ts), which re-declares every other
// external initializer at its original bytes. onnxruntime then reads ranges as it does for any export,
// and the memory held here is one tensor at a time.
import { throwIfAborted } from '../errors';
import { readInitializerBytes, type OnnxModelFiles } from '../onnx/onnxModelFiles';
import type { OnnxInitializer } from '../onnx/onnxProto';
import { parseEditableModel } from '../onnx/onnxWriter';
import { WeightOverlay } from '../onnx/weightOverlay';

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
  const overlay = new WeightOverlay();
  try {
    for (const init of targets) {
      throwIfAborted(signal);
      if (init.data.kind !== 'external') throw new Error(`internal: '${init.name}' is not stored externally`);
      const bytes = await readInitializerBytes(files, init);
      if (!bytes) throw new Error(`internal: '${init.name}' has no stored bytes`);
      await patch(init, bytes);
      overlay.append(init.name, init.dataType, init.dims, bytes);
    }
  } finally {
    overlay.close();
  }
  const model = parseEditableModel(files.modelBytes);
  return overlay.apply(files, model, { nodes: model.nodes });
}
