// The Hugging Face hub cache layout, as huggingface_hub writes it, so files are shared both ways with
// diffusers, transformers and ComfyUI users:
//   $HF_HUB_CACHE/models--org--name/blobs/<etag>            file contents, named by their etag
//                                                          (sha256 for LFS files, git blob sha1 otherwise)
//   $HF_HUB_CACHE/models--org--name/snapshots/<commit>/<path>  relative symlinks into ../../blobs/
//   $HF_HUB_CACHE/models--org--name/refs/<revision>         the commit a branch or tag resolved to
//   $HF_HUB_CACHE/.locks/models--org--name/<etag>.lock      held while a blob is being written
// Lookups here are synchronous stats and small reads (the editor calls them per keystroke); they never
// touch the network.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { nodeFileSystem, type SceneFileSystem } from '../io/sceneFileSystem';
import { isCommitHash, type HfRef } from './hubRef';

/** The hub cache folder: HF_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. */
export function hubCacheDir(env: NodeJS.ProcessEnv): string {
  const explicit = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  if (explicit) return explicit;
  const home = env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface');
  return join(home, 'hub');
}

/** True when HF_HUB_OFFLINE (or the older TRANSFORMERS_OFFLINE) is set to a true value, as huggingface_hub reads it. */
export function hubOffline(env: NodeJS.ProcessEnv): boolean {
  return [env.HF_HUB_OFFLINE, env.TRANSFORMERS_OFFLINE].some((v) => v !== undefined && ['1', 'on', 'yes', 'true'].includes(v.trim().toLowerCase()));
}

/** `models--org--name`: huggingface_hub's folder name for a model repository. */
export function repoFolderName(repo: string): string {
  return `models--${repo.split('/').join('--')}`;
}

export interface RepoCachePaths {
  repoDir: string;
  blobs: string;
  snapshots: string;
  refs: string;
  locks: string;
}

export function repoCachePaths(cacheDir: string, repo: string): RepoCachePaths {
  const folder = repoFolderName(repo);
  const repoDir = join(cacheDir, folder);
  return { repoDir, blobs: join(repoDir, 'blobs'), snapshots: join(repoDir, 'snapshots'), refs: join(repoDir, 'refs'), locks: join(cacheDir, '.locks', folder) };
}

/** The commit `revision` resolved to when it was last downloaded (refs/<revision>), or the revision itself when it is a commit. */
export function cachedCommit(cacheDir: string, repo: string, revision: string, fs: SceneFileSystem = nodeFileSystem): string | undefined {
  if (isCommitHash(revision)) return revision;
  const commit = fs.readText(join(repoCachePaths(cacheDir, repo).refs, revision))?.trim();
  return commit !== undefined && isCommitHash(commit) ? commit : undefined;
}

export type CachedHfRef = { found: true; path: string; commit: string } | { found: false; why: string };

/**
 * Where a reference lives in the cache, without the network: the snapshot folder (or file) of the commit
 * its revision last resolved to. `why` names what is missing.
 */
export function findCachedHfRef(cacheDir: string, ref: HfRef, fs: SceneFileSystem = nodeFileSystem): CachedHfRef {
  const paths = repoCachePaths(cacheDir, ref.repo);
  const commit = cachedCommit(cacheDir, ref.repo, ref.revision, fs);
  if (!commit) return { found: false, why: `${ref.repo} has no refs/${ref.revision} in the hub cache ${cacheDir}` };
  const snapshot = join(paths.snapshots, commit);
  const path = ref.path ? join(snapshot, ...ref.path.split('/')) : snapshot;
  const kind = fs.stat(path);
  if (kind === undefined) return { found: false, why: `${ref.path || 'the snapshot'} of ${ref.repo}@${commit.slice(0, 12)} is not in the hub cache ${cacheDir}` };
  return { found: true, path, commit };
}

/** How a scene's `hf:` references are found on disk: the cache, and the commits imgprompt.lock pins. */
export interface HubLookup {
  cacheDir: string;
  /** Where Civitai versions are kept (pullCivitai.ts); without it Civitai references are not found. */
  civitaiDir?: string;
  /** hubRefKey → commit, from the project's imgprompt.lock. */
  locked?: ReadonlyMap<string, string>;
}

/** findCachedHfRef at the lockfile's commit when the lock names the reference. */
export function findHfRefForScene(lookup: HubLookup, ref: HfRef, key: string, fs: SceneFileSystem = nodeFileSystem): CachedHfRef {
  const commit = lookup.locked?.get(key);
  return findCachedHfRef(lookup.cacheDir, commit ? { ...ref, revision: commit } : ref, fs);
}
