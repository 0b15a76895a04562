// A render pool: jobs spread over several backends (render servers and local workers), each taking up to
// its own concurrency at once. A job that fails in a way another try may fix (server down, restarted,
// queue full) goes back to the queue, preferably for another member, up to `retries` more times; other
// failures are final. Each rendered job is written as executePlan writes it; the summary says who did what.
import { CancelledError } from '../errors';
import { executePlan, type ExecuteOptions, type JobOutcome } from '../render/executePlan';
import type { PlannedJob } from '../render/planRender';
import type { RenderBackend, RenderProgress } from '../render/RenderBackend';
import { delay } from './http';

export interface PoolMember {
  /** For the summary and messages: a server's name, or `local`. */
  readonly label: string;
  readonly backend: RenderBackend;
  /** Jobs this member renders at once (≥ 1). */
  readonly concurrency: number;
}

export interface PoolEvents {
  onJobStart?(job: PlannedJob, member: string, attempt: number): void;
  onProgress?(job: PlannedJob, member: string, progress: RenderProgress): void;
  onRetry?(job: PlannedJob, member: string, error: Error): void;
  onJobDone?(result: PoolJobResult): void;
}

export interface PoolOptions extends Pick<ExecuteOptions, 'force' | 'saveHints' | 'signal' | 'previews'> {
  /** Further tries of a job after a retryable failure (default 2). */
  readonly retries?: number;
  readonly events?: PoolEvents;
}

export interface PoolJobResult {
  readonly planned: PlannedJob;
  /** Who rendered it (absent when skipped as up to date, or failed everywhere). */
  readonly member?: string;
  readonly attempts: number;
  readonly outcome?: JobOutcome;
  readonly error?: Error;
}

export interface PoolMemberSummary {
  readonly label: string;
  readonly rendered: number;
  readonly failed: number;
  readonly retried: number;
  /** Milliseconds this member spent rendering, summed over its slots. */
  readonly busyMs: number;
}

export interface PoolSummary {
  readonly rendered: number;
  readonly skipped: number;
  readonly failed: number;
  readonly wallMs: number;
  readonly members: readonly PoolMemberSummary[];
}

/** Whether another try (here or elsewhere) may succeed: errors that say so, and broken connections. */
export function isRetryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === true;
}

interface Pending {
  readonly planned: PlannedJob;
  attempts: number;
  readonly failedOn: Set<string>;
}

export async function executePool(jobs: readonly PlannedJob[], members: readonly PoolMember[], options: PoolOptions = {}): Promise<{ results: PoolJobResult[]; summary: PoolSummary }> {
  if (members.length === 0) throw new RangeError('a render pool needs at least one member');
  const started = performance.now();
  const retries = options.retries ?? 2;
  const results = new Map<PlannedJob, PoolJobResult>();
  const stats = new Map(members.map((m) => [m.label, { label: m.label, rendered: 0, failed: 0, retried: 0, busyMs: 0 }]));
  const pending: Pending[] = [];
  for (const planned of jobs) {
    if (!options.force && planned.freshness.state === 'up-to-date') {
      const result = { planned, attempts: 0, outcome: { job: planned.job, before: planned.freshness, action: 'skipped' as const, written: [] } };
      results.set(planned, result);
      options.events?.onJobDone?.(result);
    } else pending.push({ planned, attempts: 0, failedOn: new Set() });
  }
  let inFlight = 0;
  let wake: (() => void) | undefined;
  const changed = () => {
    wake?.();
    wake = undefined;
  };
  const finish = (result: PoolJobResult) => {
    results.set(result.planned, result);
    options.events?.onJobDone?.(result);
  };

  /** The next job for a member: one that has not failed there, else any (a lone member retries itself). */
  const take = (label: string): Pending | undefined => {
    const index = pending.findIndex((p) => !p.failedOn.has(label));
    if (index >= 0) return pending.splice(index, 1)[0];
    return members.length === 1 || pending.every((p) => p.failedOn.size >= members.length) ? pending.shift() : undefined;
  };

  const worker = async (member: PoolMember): Promise<void> => {
    const stat = stats.get(member.label);
    let consecutiveFailures = 0;
    for (;;) {
      if (options.signal?.aborted) throw new CancelledError();
      const next = take(member.label);
      if (!next) {
        if (pending.length === 0 && inFlight === 0) return changed();
        await new Promise<void>((resolve) => {
          const previous = wake;
          wake = () => {
            previous?.();
            resolve();
          };
        });
        continue;
      }
      inFlight++;
      next.attempts++;
      const t0 = performance.now();
      options.events?.onJobStart?.(next.planned, member.label, next.attempts);
      try {
        const [outcome] = await executePlan({ jobs: [next.planned] }, member.backend, {
          force: true,
          saveHints: options.saveHints,
          signal: options.signal,
          previews: options.previews,
          events: { onProgress: (_i, _n, p) => options.events?.onProgress?.(next.planned, member.label, p) },
        });
        if (stat) stat.rendered++;
        consecutiveFailures = 0;
        finish({ planned: next.planned, member: member.label, attempts: next.attempts, outcome });
      } catch (error) {
        if (error instanceof CancelledError || options.signal?.aborted) throw error;
        const err = error instanceof Error ? error : new Error(String(error));
        if (isRetryable(err) && next.attempts <= retries) {
          if (stat) stat.retried++;
          next.failedOn.add(member.label);
          pending.push(next);
          options.events?.onRetry?.(next.planned, member.label, err);
          consecutiveFailures++;
        } else {
          if (stat) stat.failed++;
          finish({ planned: next.planned, member: member.label, attempts: next.attempts, error: err });
        }
      } finally {
        if (stat) stat.busyMs += performance.now() - t0;
        inFlight--;
        changed();
      }
      // A member that keeps failing backs off, so a dead server does not spin through the queue.
      if (consecutiveFailures > 0) await delay(Math.min(5000, 250 * 2 ** (consecutiveFailures - 1)), options.signal);
    }
  };

  options.signal?.addEventListener('abort', changed, { once: true });
  const slots = members.flatMap((m) => Array.from({ length: Math.max(1, Math.floor(m.concurrency)) }, () => worker(m)));
  const settled = await Promise.allSettled(slots);
  const cancelled = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (cancelled) throw cancelled.reason;
  const ordered = jobs.map((planned) => results.get(planned) ?? { planned, attempts: 0, error: new Error('not rendered') });
  return {
    results: ordered,
    summary: {
      rendered: ordered.filter((r) => r.outcome?.action === 'rendered').length,
      skipped: ordered.filter((r) => r.outcome?.action === 'skipped').length,
      failed: ordered.filter((r) => r.error).length,
      wallMs: performance.now() - started,
      members: [...stats.values()],
    },
  };
}
