// Civitai, through its public REST API (https://developer.civitai.com/site/reference/):
//   GET /api/v1/model-versions/by-hash/{hash}   a version from a file hash (SHA256, AutoV2, ...)
//   GET /api/v1/model-versions/{id}             a version: baseModel, trainedWords, files[].hashes, air
//   GET /api/v1/models/{id}                     the model's permission fields (allowCommercialUse, ...)
//   GET /api/download/models/{versionId}        a redirect to the file on the CDN (token for some models)
// By-hash lookups fill licences, base models and trigger words for hovers and the lockfile; they are
// cached (hits and misses) in one JSON file, and with `allowNetwork: false` (Restricted Mode, or turned
// off) only the cache answers.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ModelError } from '../errors';
import { readTextBounded } from '../io/sceneFileSystem';
import { hubFetch, serverText, type HubEndpoint } from './hubHttp';

export const DEFAULT_CIVITAI_URL = 'https://civitai.com';

export interface CivitaiFile {
  name: string;
  sha256: string;
  /** Approximate: Civitai reports kilobytes. */
  sizeKB: number;
  primary: boolean;
  downloadUrl: string;
}

export interface CivitaiVersion {
  versionId: number;
  modelId: number;
  modelName: string;
  versionName: string;
  baseModel: string;
  trainedWords: string[];
  air?: string;
  files: CivitaiFile[];
  /** From the model's permission fields (filled by civitaiLicense). */
  license?: string;
}

/** Civitai's AutoV2 hash: the first 10 hex digits of the file's SHA-256, upper case. */
export function autoV2(sha256: string): string {
  return sha256.slice(0, 10).toUpperCase();
}

function str(v: unknown, max = 200): string {
  return typeof v === 'string' ? serverText(v, max) : '';
}

/** A version object of the API, checked field by field (the answer is untrusted). */
export function parseCivitaiVersion(raw: unknown): CivitaiVersion {
  if (typeof raw !== 'object' || raw === null) throw new ModelError('Civitai answered something that is not a model version');
  const r = raw as Record<string, unknown>;
  const model = (typeof r.model === 'object' && r.model !== null ? r.model : {}) as Record<string, unknown>;
  if (!Number.isSafeInteger(r.id) || !Number.isSafeInteger(r.modelId)) throw new ModelError('Civitai answered a model version without id/modelId');
  const files = (Array.isArray(r.files) ? r.files : []).flatMap((f: unknown): CivitaiFile[] => {
    const file = (f ?? {}) as Record<string, unknown>;
    const hashes = (file.hashes ?? {}) as Record<string, unknown>;
    const sha256 = str(hashes.SHA256).toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(sha256) || typeof file.name !== 'string') return [];
    return [{ name: str(file.name), sha256, sizeKB: Number(file.sizeKB) || 0, primary: file.primary === true, downloadUrl: str(file.downloadUrl, 500) }];
  });
  return {
    versionId: r.id as number,
    modelId: r.modelId as number,
    modelName: str(model.name),
    versionName: str(r.name),
    baseModel: str(r.baseModel),
    trainedWords: (Array.isArray(r.trainedWords) ? r.trainedWords : []).filter((w): w is string => typeof w === 'string').map((w) => serverText(w, 100)).slice(0, 50),
    ...(typeof r.air === 'string' ? { air: str(r.air) } : {}),
    files,
  };
}

/** The model's permission fields in one line for the lockfile and hovers. */
export function civitaiLicense(model: Record<string, unknown>): string {
  const commercial = model.allowCommercialUse;
  const uses = Array.isArray(commercial) ? commercial.filter((c): c is string => typeof c === 'string') : typeof commercial === 'string' ? [commercial] : [];
  const parts = [
    `commercial use: ${uses.length === 0 || uses.every((u) => u === 'None') ? 'none' : uses.map((u) => serverText(u, 20)).join(', ')}`,
    `derivatives ${model.allowDerivatives === false ? 'not allowed' : 'allowed'}`,
    `credit ${model.allowNoCredit === false ? 'required' : 'not required'}`,
    `relicensing ${model.allowDifferentLicense === false ? 'not allowed' : 'allowed'}`,
  ];
  return `Civitai permissions: ${parts.join('; ')}`;
}

async function getJson(url: string, endpoint: HubEndpoint, what: string, signal?: AbortSignal): Promise<unknown | undefined> {
  const response = await hubFetch({ endpoint, what, pageUrl: endpoint.url, signal })(url, { headers: { accept: 'application/json' } });
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new ModelError(`${what}: Civitai answered HTTP ${response.status}`);
  }
  const text = await response.text();
  if (text.length > 8 * 1024 * 1024) throw new ModelError(`${what}: Civitai's answer is larger than 8 MB`);
  try {
    return JSON.parse(text);
  } catch {
    throw new ModelError(`${what}: Civitai's answer is not JSON`);
  }
}

/** A model version with its licence, by id; undefined when Civitai has no such version. */
export async function fetchCivitaiVersion(versionId: number, endpoint: HubEndpoint, signal?: AbortSignal): Promise<CivitaiVersion | undefined> {
  const base = endpoint.url.replace(/\/+$/, '');
  const raw = await getJson(`${base}/api/v1/model-versions/${versionId}`, endpoint, `civitai:${versionId}`, signal);
  return raw === undefined ? undefined : withLicense(parseCivitaiVersion(raw), endpoint, signal);
}

async function withLicense(version: CivitaiVersion, endpoint: HubEndpoint, signal?: AbortSignal): Promise<CivitaiVersion> {
  const model = await getJson(`${endpoint.url.replace(/\/+$/, '')}/api/v1/models/${version.modelId}`, endpoint, `civitai model ${version.modelId}`, signal);
  return typeof model === 'object' && model !== null ? { ...version, license: civitaiLicense(model as Record<string, unknown>) } : version;
}

interface HashCache {
  [sha256: string]: { found: CivitaiVersion | null; at: number };
}

/** How long a miss is remembered before Civitai is asked again (a model may be uploaded later). */
const MISS_TTL_MS = 7 * 24 * 3600 * 1000;

function readHashCache(path: string): HashCache {
  try {
    const raw: unknown = JSON.parse(readTextBounded(path, 32 * 1024 * 1024) ?? '{}');
    return typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as HashCache) : {};
  } catch {
    return {};
  }
}

export interface CivitaiLookupOptions {
  endpoint: HubEndpoint;
  /** The JSON file lookups are cached in. */
  cacheFile: string;
  /** False in Restricted Mode or when the user turned lookups off: the cache alone answers. */
  allowNetwork: boolean;
  signal?: AbortSignal;
}

/**
 * What Civitai knows about a local file, by its sha256: the version (with licence), null when Civitai
 * has none, undefined when unknown and the network may not be asked.
 */
export async function lookupCivitaiByHash(sha256: string, options: CivitaiLookupOptions): Promise<CivitaiVersion | null | undefined> {
  const key = sha256.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(key)) throw new ModelError(`'${sha256}' is not a sha256`);
  const cache = readHashCache(options.cacheFile);
  const hit = cache[key];
  if (hit && (hit.found !== null || Date.now() - hit.at < MISS_TTL_MS)) return hit.found;
  if (!options.allowNetwork) return undefined;
  const base = options.endpoint.url.replace(/\/+$/, '');
  const raw = await getJson(`${base}/api/v1/model-versions/by-hash/${key.toUpperCase()}`, options.endpoint, `Civitai lookup of ${autoV2(key)}`, options.signal);
  const found = raw === undefined ? null : await withLicense(parseCivitaiVersion(raw), options.endpoint, options.signal);
  const fresh = readHashCache(options.cacheFile);
  fresh[key] = { found, at: Date.now() };
  mkdirSync(dirname(options.cacheFile), { recursive: true });
  const temp = `${options.cacheFile}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(fresh));
  renameSync(temp, options.cacheFile);
  return found;
}
