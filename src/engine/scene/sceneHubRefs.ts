// The hub references a scene names (its model, LoRAs, ControlNets and prompt embeddings), for the step that downloads them before a
// render, and the lookup that finds them in the hub cache at the commits imgprompt.lock pins.
import { hubRefKey, looksLikeHubRef, parseHubRef, type HubRef } from '../hub/hubRef';
import { cachedLockfile } from '../hub/lockfile';
import type { HubLookup } from '../hub/hubCache';
import { parseScene } from './parseScene';
import { explicitEmbeddingRefs } from '../prompt/embeddingNames';
import { opendirSync, type Dir } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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

/** Files of one ControlNet folder locked (model.onnx, its external data, configs): more is not a ControlNet export. */
const MAX_CONTROLNET_FILES = 64;
/** Entries of a ControlNet folder looked at. */
const MAX_LISTED = 1000;

/**
 * The scene's own weights files that imgprompt.lock records under `local`: a single-file checkpoint named
 * as a path, LoRAs named by path (not hub references, not the model's bare-named LoRAs), the files of
 * ControlNet folders named by path (model.onnx and its external data; symbolic links are left out), and
 * embeddings the prompts name by path (`embedding:path/from/scene`), absolute and inside the project.
 * Whether they exist is left to the scene check (the lock skips what is missing).
 */
export function sceneLocalFiles(sceneFile: string, text: string, projectRoot: string): string[] {
  const { scene } = parseScene(text);
  const dir = dirname(resolve(sceneFile));
  const root = resolve(projectRoot);
  const written = [
    ...(scene.model !== undefined && isWeightsFileName(scene.model) && !looksLikeHubRef(scene.model) ? [scene.model] : []),
    ...scene.loras.map((l) => l.file).filter((f) => !looksLikeHubRef(f) && !isBareLoraName(f)),
    ...[scene.prompt, scene.negative]
      .flatMap((t) => (t === undefined ? [] : explicitEmbeddingRefs(t)))
      .filter((r) => !looksLikeHubRef(r) && (r.includes('/') || r.includes('\\')))
      .map((r) => (r.toLowerCase().endsWith('.safetensors') ? r : `${r}.safetensors`)),
  ].map((w) => resolve(dir, w));
  for (const c of scene.control) {
    if (c.model === undefined || looksLikeHubRef(c.model)) continue;
    const folder = resolve(dir, c.model);
    if (isInside(root, folder)) written.push(...controlNetFiles(folder));
  }
  return [...new Set(written)].filter((p) => isInside(root, p));
}

/** The regular files directly in a ControlNet folder, sorted; a bounded read (a hostile folder may hold millions). */
function controlNetFiles(folder: string): string[] {
  const names: string[] = [];
  let listing: Dir | undefined;
  try {
    listing = opendirSync(folder);
    for (let seen = 0, e = listing.readSync(); e !== null && seen < MAX_LISTED; e = listing.readSync(), seen++) if (e.isFile()) names.push(e.name);
  } catch {
    // An unreadable or missing folder is the scene check's to report.
  } finally {
    listing?.closeSync();
  }
  return names.sort().slice(0, MAX_CONTROLNET_FILES).map((name) => join(folder, name));
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
