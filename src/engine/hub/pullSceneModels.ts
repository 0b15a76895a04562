// Brings every hub reference of a project's scene into the cache and keeps imgprompt.lock in step:
// a reference the lock names is fetched at the lock's commit and checked against its sizes and hashes;
// a new one is resolved and added (the lock is written on first resolve). With `locked` (CI,
// `render --locked`) nothing is added or changed: a reference missing from the lock, or one the hub
// now resolves differently, is an error.
import { ModelError } from '../errors';
import { hubRefKey, type HubRef } from './hubRef';
import { pullCivitaiRef } from './pullCivitai';
import { readLockfile, writeLockfile, type Lockfile } from './lockfile';
import { pullHfRef, type PullProgress, type PulledRef } from './pullHf';
import type { HubSettings } from './hubSettings';

export interface PullSceneOptions {
  /** Refuse to add to or change the lockfile. */
  locked?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: PullProgress) => void;
  onNote?: (text: string) => void;
}

export interface PulledScene {
  pulled: PulledRef[];
  lock: Lockfile;
  /** True when imgprompt.lock was written. */
  lockWritten: boolean;
}

export async function pullSceneModels(refs: readonly HubRef[], projectRoot: string, settings: HubSettings, options: PullSceneOptions = {}): Promise<PulledScene> {
  const lock = readLockfile(projectRoot);
  const pulled: PulledRef[] = [];
  let changed = false;
  for (const ref of refs) {
    const key = hubRefKey(ref);
    const entry = lock.models[key];
    if (!entry && options.locked) throw new ModelError(`${ref.text}: not in imgprompt.lock (--locked adds nothing); run \`imgprompt models pull\` without --locked and commit imgprompt.lock`);
    const common = { offline: settings.offline, locked: entry, strict: options.locked, signal: options.signal, onProgress: options.onProgress, onNote: options.onNote };
    const result =
      ref.kind === 'hf'
        ? await pullHfRef(ref, { ...common, cacheDir: settings.cacheDir, endpoint: settings.endpoint, recordFile: settings.recordFile })
        : await pullCivitaiRef(ref, { ...common, civitaiDir: settings.civitai.dir, endpoint: settings.civitai.endpoint });
    pulled.push(result);
    // Offline without a lock entry we know the commit but not the hashes: nothing worth locking.
    if (!entry && Object.keys(result.entry.files).length > 0) {
      lock.models[key] = result.entry;
      changed = true;
    }
  }
  const lockWritten = changed && !options.locked ? writeLockfile(projectRoot, lock) : false;
  return { pulled, lock, lockWritten };
}
