// The hub layer's public API: model references by name (Hugging Face, Civitai), the shared cache, the lockfile.
export { parseHubRef, hubRefKey, looksLikeHubRef, isCommitHash, type HubRef, type HfRef, type CivitaiRef } from './hubRef';
export { hubCacheDir, hubOffline, repoFolderName, repoCachePaths, findCachedHfRef, cachedCommit, type HubLookup, type CachedHfRef, type RepoCachePaths } from './hubCache';
export { hubSettingsFromEnv, DEFAULT_HF_ENDPOINT, type HubSettings, type HubSettingsOptions } from './hubSettings';
export { pullHfRef, type PullOptions, type PullProgress, type PulledRef } from './pullHf';
export { pullSceneModels, type PullSceneOptions, type PulledScene } from './pullSceneModels';
export { readLockfile, writeLockfile, formatLockfile, lockfilePath, LockfileError, LOCKFILE_NAME, type Lockfile, type LockEntry, type LockedFile, type LocalLockEntry } from './lockfile';
export { readDownloadRecord, writeDownloadRecord, type DownloadRecordEntry } from './downloadRecord';
export { verifyLockedFiles, verifyLocalFiles, sha256OfFile, type LockedFileProblem } from './verifyLocked';
export { lockLocalFiles, type LockLocalOptions } from './lockLocalFiles';
export { collectGarbage, type GcResult } from './collectGarbage';
export { pullCivitaiRef, findCachedCivitaiVersion, type CivitaiPullOptions } from './pullCivitai';
export { lookupCivitaiByHash, fetchCivitaiVersion, autoV2, civitaiLicense, DEFAULT_CIVITAI_URL, type CivitaiVersion, type CivitaiFile, type CivitaiLookupOptions } from './civitai';
