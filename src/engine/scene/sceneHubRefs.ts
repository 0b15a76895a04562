// The hub references a scene names (its model and LoRAs), for the step that downloads them before a
// render, and the lookup that finds them in the hub cache at the commits imgprompt.lock pins.
import { hubRefKey, looksLikeHubRef, parseHubRef, type HubRef } from '../hub/hubRef';
import { readLockfile } from '../hub/lockfile';
import type { HubLookup } from '../hub/hubCache';
import { parseScene } from './parseScene';

/** Every well-formed hub reference (hf:, Civitai) in the scene text, once each, in order. */
export function sceneHubRefs(text: string): HubRef[] {
  const { scene } = parseScene(text);
  const written = [scene.model, ...scene.loras.map((l) => l.file)].filter((w): w is string => w !== undefined && looksLikeHubRef(w));
  const refs = new Map<string, HubRef>();
  for (const w of written) {
    const ref = parseHubRef(w);
    if (!('error' in ref)) refs.set(hubRefKey(ref), ref);
  }
  return [...refs.values()];
}

/** The hub lookup for scenes of `projectRoot`: the cache and the lockfile's commits (none when it is unreadable). */
export function projectHubLookup(cacheDir: string, projectRoot: string, civitaiDir?: string): HubLookup {
  try {
    const lock = readLockfile(projectRoot);
    return { cacheDir, civitaiDir, locked: new Map(Object.entries(lock.models).map(([key, e]) => [key, e.commit])) };
  } catch {
    return { cacheDir, civitaiDir };
  }
}
