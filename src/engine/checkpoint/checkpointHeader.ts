// Reads what a model weights file is without loading it: the safetensors header (tensor names, dtypes,
// shapes) through a bounded synchronous read, cheap enough for the editor's per-keystroke checks; and
// recognises pickle files (`.ckpt`, `.pt`, `.bin`: Python pickles, or PyTorch's zip of one), which are
// never loaded because unpickling runs code.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { InputError } from '../errors';
import { parseSafetensorsHeaderJson, type SafetensorsTensorInfo } from '../lora/safetensors';

/** The largest header read for a description (real checkpoints' headers are well under 1 MiB). */
export const MAX_CHECKPOINT_HEADER_BYTES = 16 * 1024 * 1024;

export const PICKLE_EXTENSIONS = ['.ckpt', '.pt', '.pth', '.bin', '.pkl'];
export const WEIGHT_FILE_EXTENSIONS = ['.safetensors', '.sft', ...PICKLE_EXTENSIONS];

export interface CheckpointHeader {
  readonly path: string;
  readonly fileSize: number;
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: ReadonlyMap<string, SafetensorsTensorInfo>;
}

/** A weights file the engine refuses to read (a pickle), with what to do instead. */
export class PickleCheckpointError extends InputError {
  constructor(path: string) {
    super(
      'a pickle checkpoint (Python pickle / PyTorch zip): imgprompt never loads pickles, because loading one runs code from the file. ' +
        'Convert it to .safetensors where you trust it (e.g. with diffusers or the safetensors "convert" tool), or use the .safetensors release most models publish',
      path,
    );
  }
}

function isPickleBytes(head: Buffer): boolean {
  // Pickle protocol 2–5 starts with PROTO (0x80) and the protocol number; torch.save's zip with "PK\x03\x04".
  return (head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) || head.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1'));
}

/** Reads the header of a safetensors file (bounded); throws PickleCheckpointError for a pickle, InputError otherwise. */
export function readCheckpointHeader(path: string, maxHeaderBytes = MAX_CHECKPOINT_HEADER_BYTES): CheckpointHeader {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new InputError('not a regular file', path);
    const head = Buffer.alloc(8);
    const got = readSync(fd, head, 0, 8, 0);
    if (PICKLE_EXTENSIONS.includes(extname(path).toLowerCase()) || (got >= 4 && isPickleBytes(head))) throw new PickleCheckpointError(path);
    if (got < 8) throw new InputError(`${stat.size} bytes: too short for a safetensors file (truncated?)`, path);
    const headerLength = Number(head.readBigUInt64LE(0));
    if (headerLength > maxHeaderBytes) throw new InputError(`its header claims ${headerLength} bytes, over the ${maxHeaderBytes} read to describe a checkpoint`, path);
    if (8 + headerLength > stat.size) throw new InputError(`its header claims ${headerLength} bytes but the file has ${stat.size}: the file is truncated`, path);
    const json = Buffer.alloc(headerLength);
    let read = 0;
    while (read < headerLength) {
      const n = readSync(fd, json, read, headerLength - read, 8 + read);
      if (n === 0) break;
      read += n;
    }
    // The tensors' byte ranges are checked against the data the file really holds: a cut download fails here.
    const { metadata, tensors } = parseSafetensorsHeaderJson(json.subarray(0, read), stat.size - 8 - headerLength, path, true);
    return { path, fileSize: stat.size, metadata, tensors };
  } finally {
    closeSync(fd);
  }
}
