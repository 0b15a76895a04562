// The seam between the render path and provenance: what executePlan asks of whoever signs and logs
// figures (provenance/FigureProvenance.ts implements it; tests and dry runs may pass none).
import type { RenderJob } from './renderJob';

export interface OutputProvenance {
  /** Who wrote the prompt (IPTC AI Prompt Writer Name in the XMP); undefined when nobody is known. */
  promptWriter(job: RenderJob): Promise<string | undefined>;
  /**
   * The PNG to write: the encoded figure with its C2PA manifest embedded, or unchanged when signing is
   * off or impossible on this machine (then `warning` says why; a misconfigured identity throws instead).
   */
  sign(png: Buffer, job: RenderJob, signal?: AbortSignal): Promise<{ readonly png: Buffer; readonly warning?: string }>;
  /** Called once the figure is on disk (the prompt log). */
  written(job: RenderJob, png: Buffer, projectRoot: string | undefined): Promise<void>;
}
