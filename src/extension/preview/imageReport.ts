// What the provenance panel reads from an image file: a PNG's metadata (ours, AUTOMATIC1111, ComfyUI,
// InvokeAI), or for a JPEG or WebP, a report with no metadata, since imgprompt's recipe lives in PNG
// chunks, so that the panel still opens and reads the watermark from the pixels (watermarkCheck.ts).
import { open } from 'node:fs/promises';
import { InputError, readImageMetadataFile, type ImageMetadataReport } from '../../engine/editor';

export type ImageFormat = 'png' | 'jpeg' | 'webp';

/** The format by the file's signature (never by its name): PNG, JPEG (FF D8 FF), WebP (RIFF….WEBP). */
export function imageFormat(head: Uint8Array): ImageFormat | undefined {
  const ascii = (from: number, to: number) => String.fromCharCode(...head.subarray(from, to));
  if (head.length >= 8 && head[0] === 0x89 && ascii(1, 4) === 'PNG') return 'png';
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  return undefined;
}

async function readHead(file: string): Promise<Uint8Array> {
  const handle = await open(file, 'r');
  try {
    const head = new Uint8Array(12);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** The panel's report for `file`; anything but a PNG, JPEG or WebP is an InputError naming the file. */
export async function readImageReport(file: string): Promise<ImageMetadataReport & { format?: ImageFormat }> {
  let format: ImageFormat | undefined;
  try {
    format = imageFormat(await readHead(file));
  } catch (error) {
    throw new InputError(`cannot read file (${error instanceof Error ? error.message : String(error)})`, file);
  }
  if (format === 'jpeg' || format === 'webp') {
    const name = format === 'jpeg' ? 'JPEG' : 'WebP';
    return {
      file,
      format,
      sources: [],
      provenance: { aiGenerated: false },
      text: [],
      warnings: [`a ${name} carries no imgprompt recipe (it lives in PNG chunks): only the watermark in its pixels is read`],
    };
  }
  return { ...(await readImageMetadataFile(file)), ...(format ? { format } : {}) };
}
