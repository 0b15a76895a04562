// `--shard i/n`: one CI matrix job's share of a folder of scenes. Files are ordered by their
// project-relative POSIX path (the same on every machine and checkout) and dealt round-robin, so the n
// shards are disjoint, cover every file, and differ in size by at most one.
import { relative, sep } from 'node:path';
import { InputError } from '../errors';

export interface Shard {
  /** 1-based. */
  readonly index: number;
  readonly count: number;
}

/** Parses `i/n` (1 ≤ i ≤ n). */
export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || count < 1 || index < 1 || index > count) throw new InputError(`--shard must be i/n with 1 ≤ i ≤ n (e.g. 2/4), got '${text}'`);
  return { index, count };
}

/** The files of shard `shard`, in their original order. */
export function shardFiles(files: readonly string[], projectRoot: string, shard: Shard): string[] {
  const key = (f: string) => relative(projectRoot, f).split(sep).join('/');
  const sorted = [...new Set(files)].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const mine = new Set(sorted.filter((_f, i) => i % shard.count === shard.index - 1));
  return files.filter((f, i) => mine.has(f) && files.indexOf(f) === i);
}
