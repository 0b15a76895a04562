// What the editor says about model references (hf:..., Civitai): hover text from imgprompt.lock and the
// caches (licence, size, commit, downloaded or not) and completion candidates (locked references and
// the repositories already in the Hugging Face cache). Reads only local files: no network here.
import { readdirSync } from 'node:fs';
import { findCachedCivitaiVersion, findCachedHfRef, hubRefKey, parseHubRef, readLockfile, type LockEntry } from '../../engine/editor';

export interface HubPlaces {
  projectRoot: string;
  hubCacheDir: string;
  civitaiDir: string;
}

function lockEntry(projectRoot: string, key: string): LockEntry | undefined {
  try {
    return readLockfile(projectRoot).models[key];
  } catch {
    return undefined;
  }
}

function megabytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Markdown for a hover on a hub reference, or undefined when `text` is not one. */
export function hubRefHover(text: string, places: HubPlaces): string | undefined {
  const ref = parseHubRef(text);
  if ('error' in ref) return /^(hf|civitai):|^urn:air:/i.test(text) ? `**Model reference** \`${text}\`: ${ref.error}` : undefined;
  const key = hubRefKey(ref);
  const entry = lockEntry(places.projectRoot, key);
  const lines: string[] = [];
  if (ref.kind === 'hf') {
    lines.push(`**${ref.repo}** — Hugging Face${ref.path ? `, \`${ref.path}\`` : ''} at \`${ref.revision}\``, '');
    const cached = findCachedHfRef(places.hubCacheDir, entry ? { ...ref, revision: entry.commit } : ref);
    lines.push(`- ${cached.found ? `downloaded (commit \`${cached.commit.slice(0, 12)}\`)` : 'not downloaded yet: rendering downloads it'}`);
  } else {
    lines.push(`**Civitai model version ${ref.versionId}**${ref.modelId !== undefined ? ` of model ${ref.modelId}` : ''}`, '');
    lines.push(`- ${findCachedCivitaiVersion(places.civitaiDir, ref.versionId) ? 'downloaded' : 'not downloaded yet: rendering downloads it'}`);
  }
  if (entry) {
    const size = Object.values(entry.files).reduce((n, f) => n + f.size, 0);
    lines.push(`- locked in imgprompt.lock at \`${entry.commit.slice(0, 12)}\`: ${Object.keys(entry.files).length} file(s), ${megabytes(size)}`);
    lines.push(`- licence: ${entry.license ?? 'not stated'}`);
  } else lines.push('- not in imgprompt.lock yet: the first render adds it');
  return lines.join('\n');
}

/** References worth offering for `model:` or a LoRA: the lockfile's, then repositories in the hub cache. */
export function hubRefCandidates(places: HubPlaces): { ref: string; detail: string }[] {
  const out = new Map<string, string>();
  try {
    for (const [key, e] of Object.entries(readLockfile(places.projectRoot).models)) out.set(key, `locked at ${e.commit.slice(0, 12)}${e.license ? ` · ${e.license}` : ''}`);
  } catch {
    // an unreadable lockfile offers nothing; diagnostics report it when it matters
  }
  try {
    for (const name of readdirSync(places.hubCacheDir).sort()) {
      const m = /^models--([^-][^/]*?)--(.+)$/.exec(name);
      if (!m) continue;
      const ref = `hf:${m[1]}/${m[2]}`;
      if (![...out.keys()].some((k) => k.startsWith(`${ref}@`))) out.set(ref, 'in the Hugging Face cache');
    }
  } catch {
    // no cache yet
  }
  return [...out].map(([ref, detail]) => ({ ref, detail }));
}
