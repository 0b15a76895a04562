// The hub references a scene names (its model, LoRAs, ControlNets and prompt embeddings), for the step that downloads them before a
// render, and the lookup that finds them in the hub cache at the commits imgprompt.lock pins.
import { hubRefKey, looksLikeHubRef, parseHubRef, type HubRef } from '../hub/hubRef';
import { statSync } from 'node:fs';
import { lockfilePath, readLockfile } from '../hub/lockfile';
import type { HubLookup } from '../hub/hubCache';
import { parseScene } from './parseScene';
import { explicitEmbeddingRefs } from '../prompt/embeddingNames';

/** Every well-formed hub reference (hf:, Civitai) in the scene text, once each, in order. */
export function sceneHubRefs(text: string): HubRef[] {
  const { scene } = parseScene(text);
  const embeddings = [scene.prompt, scene.negative].flatMap((t) => (t === undefined ? [] : explicitEmbeddingRefs(t)));
  const written = [scene.model, ...scene.loras.map((l) => l.file), ...scene.control.map((c) => c.model), ...embeddings].filter((w): w is string => w !== undefined && looksLikeHubRef(w));
  const refs = new Map<string, HubRef>();
  for (const w of written) {
    const ref = parseHubRef(w);
    if (!('error' in ref)) refs.set(hubRefKey(ref), ref);
  }
  return [...refs.values()];
}

/** Lock commits by lockfile path, kept while the file's size and mtime stay the same (editors analyse per keystroke). */
const lockCommits = new Map<string, { stamp: string; commits: ReadonlyMap<string, string> | undefined }>();

function lockedCommits(projectRoot: string): ReadonlyMap<string, string> | undefined {
  const path = lockfilePath(projectRoot);
  let stamp: string;
  try {
    const s = statSync(path);
    stamp = `${s.size}:${s.mtimeMs}`;
  } catch {
    return undefined;
  }
  const known = lockCommits.get(path);
  if (known?.stamp === stamp) return known.commits;
  let commits: ReadonlyMap<string, string> | undefined;
  try {
    commits = new Map(Object.entries(readLockfile(projectRoot).models).map(([key, e]) => [key, e.commit]));
  } catch {
    commits = undefined; // a malformed lockfile pins nothing here; pulling reports it
  }
  lockCommits.set(path, { stamp, commits });
  return commits;
}

/** The hub lookup for scenes of `projectRoot`: the caches and the lockfile's commits (none when it is unreadable). */
export function projectHubLookup(cacheDir: string, projectRoot: string, civitaiDir?: string): HubLookup {
  return { cacheDir, civitaiDir, locked: lockedCommits(projectRoot) };
}
