// A configured render server: which API it speaks, where it is, how the scene's names map onto its
// files, and how much work it takes at once. Servers come from the project's `imgprompt.backends.json`
// (or the editor's settings) and are named by scenes and by `imgprompt render --backend`.
import { InputError } from '../errors';
import { isRemoteFamily, REMOTE_FAMILIES } from './remoteFamilies';
import type { ServerModelMap } from './remoteRequest';

export const REMOTE_APIS = ['comfyui', 'a1111'] as const;
export type RemoteApi = (typeof REMOTE_APIS)[number];

export interface RemoteServerConfig extends ServerModelMap {
  readonly name: string;
  readonly api: RemoteApi;
  /** http(s) base URL, e.g. http://gpu-box:8188 (ComfyUI) or http://gpu-box:7860 (A1111). */
  readonly url: string;
  /** Renders sent to this server at once by a pool (default 1). */
  readonly concurrency?: number;
  /** Do not queue when the server's queue already holds this many prompts (ComfyUI; default: no limit). */
  readonly maxQueue?: number;
  /** Per-request timeout in milliseconds (default 30 s; a render itself may take longer). */
  readonly timeoutMs?: number;
}

/** The project file that names servers, at the project root. */
export const BACKENDS_FILE = 'imgprompt.backends.json';

const KEYS = ['api', 'url', 'concurrency', 'maxQueue', 'timeoutMs', 'models', 'controlnets', 'textEncoders', 'vae', 'family'];

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!value || typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) throw new InputError(`${where} must map names to file names (strings)`);
  return value as Record<string, string>;
}

/** Validates one server entry (from JSON or settings); errors name the server and the key. */
export function parseServerConfig(name: string, raw: unknown, source: string): RemoteServerConfig {
  const where = `${source}: server '${name}'`;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new InputError(`${where} must be an object with api and url`);
  const r = raw as Record<string, unknown>;
  const unknown = Object.keys(r).filter((k) => !KEYS.includes(k));
  if (unknown.length) throw new InputError(`${where}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${KEYS.join(', ')})`);
  if (typeof r.api !== 'string' || !(REMOTE_APIS as readonly string[]).includes(r.api)) throw new InputError(`${where}: api must be one of ${REMOTE_APIS.join(', ')}, got ${JSON.stringify(r.api)}`);
  let url: URL;
  try {
    url = new URL(String(r.url));
  } catch {
    throw new InputError(`${where}: url must be an http(s) URL, got ${JSON.stringify(r.url)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InputError(`${where}: url must be http or https, got ${url.protocol}`);
  const positive = (key: string) => {
    const v = r[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new InputError(`${where}: ${key} must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  if (r.family !== undefined && (typeof r.family !== 'string' || !isRemoteFamily(r.family))) throw new InputError(`${where}: family must be one of ${REMOTE_FAMILIES.join(', ')}, got ${JSON.stringify(r.family)}`);
  if (r.textEncoders !== undefined && !(Array.isArray(r.textEncoders) && r.textEncoders.every((t) => typeof t === 'string'))) throw new InputError(`${where}: textEncoders must be a list of file names`);
  if (r.vae !== undefined && typeof r.vae !== 'string') throw new InputError(`${where}: vae must be a file name`);
  return {
    name,
    api: r.api as RemoteApi,
    url: url.href,
    concurrency: positive('concurrency'),
    maxQueue: positive('maxQueue'),
    timeoutMs: positive('timeoutMs'),
    models: stringMap(r.models, `${where}: models`),
    controlnets: stringMap(r.controlnets, `${where}: controlnets`),
    textEncoders: r.textEncoders as string[] | undefined,
    vae: r.vae as string | undefined,
    family: r.family as RemoteServerConfig['family'],
  };
}

/** `{ "servers": { name: {...} } }` → the servers, in file order. */
export function parseBackendsFile(text: string, source: string): RemoteServerConfig[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${source}: not valid JSON (${(error as Error).message})`);
  }
  const servers = (json as { servers?: unknown } | null)?.servers;
  if (!servers || typeof servers !== 'object' || Array.isArray(servers)) throw new InputError(`${source}: expected { "servers": { "<name>": { "api": "comfyui", "url": "http://…" } } }`);
  return Object.entries(servers).map(([name, raw]) => parseServerConfig(name, raw, source));
}
