// The hub references a scene names (its model, LoRAs, ControlNets and prompt embeddings), for the step that downloads them before a
// render, and the lookup that finds them in the hub cache at the commits imgprompt.lock pins.
import { hubRefKey, looksLikeHubRef, parseHubRef, type HubRef } from '../hub/hubRef';
import { cachedLockfile } from '../hub/lockfile';
import type { HubLookup } from '../hub/hubCache';
import { parseScene } from './parseScene';
import { explicitEmbeddingRefs } from '../prompt/embeddingNames';
import { dirname, resolve } from 'node:path';
import { isWeightsFileName } from '../checkpoint/weightsFileVerdict';
import { isBareLoraName, isInside } from './checkScene';

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

/**
 * The scene's own model and LoRA files that imgprompt.lock records under `local`: a single-file
 * checkpoint named as a path, LoRAs named by path (not hub references, not the model's bare-named
 * LoRAs), absolute and inside the project. Whether they exist is left to the scene check.
 */
export function sceneLocalFiles(sceneFile: string, text: string, projectRoot: string): string[] {
  const { scene } = parseScene(text);
  const dir = dirname(resolve(sceneFile));
  const written = [
    ...(scene.model !== undefined && isWeightsFileName(scene.model) && !looksLikeHubRef(scene.model) ? [scene.model] : []),
    ...scene.loras.map((l) => l.file).filter((f) => !looksLikeHubRef(f) && !isBareLoraName(f)),
  ];
  const root = resolve(projectRoot);
  return [...new Set(written.map((w) => resolve(dir, w)))].filter((p) => isInside(root, p));
}

/** The commits imgprompt.lock pins, by reference key (none when it is absent or unreadable). */
function lockedCommits(projectRoot: string): ReadonlyMap<string, string> | undefined {
  const lock = cachedLockfile(projectRoot);
  return lock && new Map(Object.entries(lock.models).map(([key, e]) => [key, e.commit]));
}

/** The hub lookup for scenes of `projectRoot`: the caches and the lockfile's commits (none when it is unreadable). */
export function projectHubLookup(cacheDir: string, projectRoot: string, civitaiDir?: string): HubLookup {
  return { cacheDir, civitaiDir, locked: lockedCommits(projectRoot) };
}
