// Where the hubs are and who we are to them, from the environment variables the ecosystem uses:
// HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN),
// HF_HUB_CACHE / HF_HOME, HF_HUB_OFFLINE; CIVITAI_TOKEN. The extension passes a token from VS Code's
// secret storage instead. Tokens live only in memory: nothing here writes them anywhere.
import { hubCacheDir, hubOffline } from './hubCache';
import type { HubEndpoint } from './hubHttp';

export interface HubSettings {
  cacheDir: string;
  endpoint: HubEndpoint;
  offline: boolean;
  /** imgprompt's record of what it downloaded (for `models gc`). */
  recordFile?: string;
}

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

export function hubSettingsFromEnv(env: NodeJS.ProcessEnv, recordFile?: string, token?: string): HubSettings {
  const hfToken = token ?? (env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined);
  return {
    cacheDir: hubCacheDir(env),
    endpoint: { url: (env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT).replace(/\/+$/, ''), token: hfToken?.trim() || undefined, tokenName: 'HF_TOKEN' },
    offline: hubOffline(env),
    recordFile,
  };
}
