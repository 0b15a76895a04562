// Whether a job's PNG is up to date: the one freshness rule. A PNG is up to date exactly when it exists
// and its stored recipe hash equals the job's; otherwise it is missing or stale, and for a stale PNG the
// pixel-affecting fields that changed are named (from the recipe stored in it).
import { READ_CAPS, readFileBounded } from '../io/readBounded';
import { readImageMetadata } from '../interop/readImageMetadata';
import { describeChange, recipeChanges, type RecipeChange } from '../scene/recipeChanges';
import type { RenderJob } from './renderJob';

export type FreshnessState = 'up-to-date' | 'stale' | 'missing';

export interface Freshness {
  readonly state: FreshnessState;
  /** Why, in a phrase: `no PNG yet`, `seed: 1 → 2`, `its stored recipe is unreadable`. */
  readonly reason: string;
  /** The hash stored in the existing PNG, if it has one. */
  readonly storedHash?: string;
  /** For a stale output: the pixel-affecting fields that differ from the recipe stored in the PNG. */
  readonly changes?: readonly RecipeChange[];
  /** The render server that made the stored PNG (its recipe's `backend`): recipe-reproducible, not byte-identical. */
  readonly remote?: { readonly api: string; readonly server: string; readonly version: string };
}

const UNREADABLE = 'its stored recipe is unreadable or was not written by imgprompt';

/** Compares the job with the PNG at its output path. Never throws for a bad or foreign PNG: that is stale. */
export async function judgeFreshness(job: Pick<RenderJob, 'output' | 'hash' | 'metadata'>): Promise<Freshness> {
  let bytes: Buffer;
  try {
    bytes = await readFileBounded(job.output, READ_CAPS.image, 'PNG');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing', reason: 'no PNG yet' };
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return { state: 'missing', reason: 'no PNG yet (a file stands where its folder should be)' };
    return { state: 'stale', reason: `the PNG cannot be read: ${(error as Error).message}` };
  }
  let stored: Record<string, unknown> | undefined;
  try {
    stored = readImageMetadata(bytes, job.output).recipe;
  } catch {
    return { state: 'stale', reason: UNREADABLE };
  }
  const storedHash = typeof stored?.hash === 'string' ? stored.hash : undefined;
  if (!stored || storedHash === undefined) return { state: 'stale', reason: UNREADABLE };
  if (storedHash === job.hash) return { state: 'up-to-date', reason: 'its stored recipe hash matches the scene', storedHash, remote: remoteOf(stored.backend) };
  const changes = recipeChanges(stored, job.metadata);
  const reason = changes.length > 0 ? changes.map((c) => describeChange(c)).join('; ') : 'its recipe hash differs (same fields: an input file changed)';
  return { state: 'stale', reason, storedHash, changes };
}

function remoteOf(value: unknown): Freshness['remote'] {
  if (!value || typeof value !== 'object') return undefined;
  const { api, server, version } = value as Record<string, unknown>;
  return typeof api === 'string' && typeof server === 'string' ? { api, server, version: typeof version === 'string' ? version : 'unknown' } : undefined;
}
