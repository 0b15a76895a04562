// Where the hubs are and who we are to them, from the environment variables the ecosystem uses:
// HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN),
// HF_HUB_CACHE / HF_HOME, HF_HUB_OFFLINE; CIVITAI_TOKEN (and IMGPROMPT_CIVITAI_URL, ours, for a mirror).
// The extension passes tokens from VS Code's secret storage instead. Tokens live only in memory:
// nothing here writes them anywhere.
import { join } from 'node:path';
import { DEFAULT_CIVITAI_URL } from './civitai';
import { hubCacheDir, hubOffline } from './hubCache';
import type { HubEndpoint } from './hubHttp';

export interface HubSettings {
  cacheDir: string;
  endpoint: HubEndpoint;
  offline: boolean;
  /** imgprompt's record of what it downloaded (for `models gc`). */
  recordFile?: string;
  civitai: {
    endpoint: HubEndpoint;
    /** Where Civitai files are kept (blobs/ and versions/<id>/). */
    dir: string;
    /** The by-hash lookup cache. */
    lookupCacheFile: string;
  };
}

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

export interface HubSettingsOptions {
  /** imgprompt's own cache folder (download record, Civitai files and lookups). */
  imgpromptCacheDir: string;
  /** Tokens from elsewhere (VS Code's secret storage); the environment's otherwise. */
  hfToken?: string;
  civitaiToken?: string;
}

function token(...values: (string | undefined)[]): string | undefined {
  return values.map((v) => v?.trim()).find((v) => v !== undefined && v !== '');
}

export function hubSettingsFromEnv(env: NodeJS.ProcessEnv, options: HubSettingsOptions): HubSettings {
  const civitaiDir = join(options.imgpromptCacheDir, 'civitai');
  return {
    cacheDir: hubCacheDir(env),
    endpoint: { url: (env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT).replace(/\/+$/, ''), token: token(options.hfToken, env.HF_TOKEN, env.HUGGING_FACE_HUB_TOKEN), tokenName: 'HF_TOKEN' },
    offline: hubOffline(env),
    recordFile: join(options.imgpromptCacheDir, 'hub-downloads.json'),
    civitai: {
      endpoint: { url: (env.IMGPROMPT_CIVITAI_URL || DEFAULT_CIVITAI_URL).replace(/\/+$/, ''), token: token(options.civitaiToken, env.CIVITAI_TOKEN), tokenName: 'CIVITAI_TOKEN' },
      dir: civitaiDir,
      lookupCacheFile: join(civitaiDir, 'by-hash.json'),
    },
  };
}
