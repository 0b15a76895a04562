// PNG metadata for the Markdown features, read once per file version (size + mtime) so hovering and
// link detection in a long document do not re-read every image. Files that cannot be read (or are not
// PNGs) are remembered as having no metadata.
import { stat } from 'node:fs/promises';
import { readImageMetadataFile, type ImageMetadataReport } from '../../engine/editor';

/** Larger files are not read for a hover: figures are small, and a huge file is not ours. */
const MAX_PNG_BYTES = 64 * 1024 * 1024;
const MAX_ENTRIES = 256;

export class ImageMetadataCache {
  private readonly entries = new Map<string, { version: string; report: Promise<ImageMetadataReport | undefined> }>();

  async get(path: string): Promise<ImageMetadataReport | undefined> {
    let version: string;
    try {
      const s = await stat(path);
      if (!s.isFile() || s.size > MAX_PNG_BYTES) return undefined;
      version = `${s.size}:${s.mtimeMs}`;
    } catch {
      return undefined;
    }
    const cached = this.entries.get(path);
    if (cached?.version === version) return cached.report;
    const report = readImageMetadataFile(path).catch(() => undefined);
    this.entries.delete(path);
    this.entries.set(path, { version, report });
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    return report;
  }
}
