// The hub references a scene names (its model and LoRAs), for the step that downloads them before a
// render, and the lookup that finds them in the hub cache at the commits imgprompt.lock pins.
import { hubRefKey, looksLikeHubRef, parseHubRef, type HfRef } from '../hub/hubRef';
import { readLockfile } from '../hub/lockfile';
import type { HubLookup } from '../hub/hubCache';
import { parseScene } from './parseScene';

/** Every well-formed `hf:` reference in the scene text, once each, in order. */
export function sceneHubRefs(text: string): HfRef[] {
  const { scene } = parseScene(text);
  const written = [scene.model, ...scene.loras.map((l) => l.file)].filter((w): w is string => w !== undefined && looksLikeHubRef(w));
  const refs = new Map<string, HfRef>();
  for (const w of written) {
    const ref = parseHubRef(w);
    if (!('error' in ref) && ref.kind === 'hf') refs.set(hubRefKey(ref), ref);
  }
  return [...refs.values()];
}

/** The hub lookup for scenes of `projectRoot`: the cache and the lockfile's commits (none when it is unreadable). */
export function projectHubLookup(cacheDir: string, projectRoot: string): HubLookup {
  try {
    const lock = readLockfile(projectRoot);
    return { cacheDir, locked: new Map(Object.entries(lock.models).map(([key, e]) => [key, e.commit])) };
  } catch {
    return { cacheDir };
  }
}
