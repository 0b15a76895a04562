// Where a hub reference (hf:, civitai:, AIR) a scene names is in the caches, found by stats only (cheap
// enough per keystroke); never the network: rendering and `imgprompt models pull` download.
import { findHfRefForScene, type HubLookup } from '../hub/hubCache';
import { hubRefKey, parseHubRef } from '../hub/hubRef';
import { findCachedCivitaiVersion } from '../hub/pullCivitai';
import { nodeFileSystem, type SceneFileSystem } from '../io/sceneFileSystem';

/** The cached file or folder (`ref` is the reference's lockfile key), or the diagnostic saying why not. */
export type LocatedHubRef = { path: string; ref: string } | { code: 'bad-model-ref' | 'model-not-downloaded'; message: string };

/** `what` names the role in messages ('model', 'LoRA', 'embedding', 'ControlNet'). */
export function locateHubRef(written: string, what: string, hub: HubLookup | undefined, fs: SceneFileSystem = nodeFileSystem): LocatedHubRef {
  const ref = parseHubRef(written);
  if ('error' in ref) return { code: 'bad-model-ref', message: ref.error };
  const key = hubRefKey(ref);
  if (ref.kind === 'civitai') {
    const file = hub?.civitaiDir ? findCachedCivitaiVersion(hub.civitaiDir, ref.versionId) : undefined;
    if (!file) return { code: 'model-not-downloaded', message: `${what} '${written}' (Civitai version ${ref.versionId}) is not downloaded yet; rendering it (or \`imgprompt models pull\`) downloads it` };
    return { path: file, ref: key };
  }
  if (!hub) return { code: 'model-not-downloaded', message: `${what} '${written}' names a Hugging Face model, but no hub cache is configured here` };
  const found = findHfRefForScene(hub, ref, key, fs);
  if (!found.found) return { code: 'model-not-downloaded', message: `${what} '${written}' is not downloaded yet (${found.why}); rendering it (or \`imgprompt models pull\`) downloads it` };
  return { path: found.path, ref: key };
}
