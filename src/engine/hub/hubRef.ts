// Model references that name a published model instead of a local path:
//   hf:org/name[@revision][/path/in/repo]     a Hugging Face repository, a folder in it, or one file
//   civitai:<versionId>                       a Civitai model version (its primary file)
//   urn:air:<ecosystem>:<type>:civitai:<modelId>@<versionId>   the same, as an AIR identifier
// Parsing is strict: these strings become folder names in the cache and URLs, so anything outside the
// hub's own naming rules (https://huggingface.co/docs/hub/repositories-getting-started) is refused here.

export interface HfRef {
  kind: 'hf';
  /** `org/name`. */
  repo: string;
  /** A branch, tag or 40-hex commit; `main` when the scene names none. */
  revision: string;
  /** True when the scene wrote `@revision`. */
  pinned: boolean;
  /** A file or folder inside the repository (POSIX, no leading slash); '' for the whole repository. */
  path: string;
  /** The reference as written. */
  text: string;
}

export interface CivitaiRef {
  kind: 'civitai';
  versionId: number;
  /** From an AIR: the model id, ecosystem and type. */
  modelId?: number;
  ecosystem?: string;
  type?: string;
  text: string;
}

export type HubRef = HfRef | CivitaiRef;

const REPO_PART = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
const REVISION = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const COMMIT = /^[0-9a-f]{40}$/;

/** True when `text` is written as a hub reference (even a malformed one), so it is not taken for a path. */
export function looksLikeHubRef(text: string): boolean {
  return /^(hf|civitai):/i.test(text) || /^urn:air:/i.test(text);
}

export function isCommitHash(revision: string): boolean {
  return COMMIT.test(revision);
}

function checkPathInRepo(path: string): string | undefined {
  if (path === '') return undefined;
  for (const part of path.split('/')) {
    if (part === '' || part === '.' || part === '..') return `the path '${path}' inside the repository has an empty, '.' or '..' part`;
    if (!/^[\w.+ -]+$/.test(part)) return `the path '${path}' inside the repository has characters a hub file name cannot have`;
  }
  return undefined;
}

/** Parses a hub reference; returns an error message naming what is wrong instead of throwing. */
export function parseHubRef(text: string): HubRef | { error: string } {
  const hf = /^hf:(.*)$/i.exec(text);
  if (hf) {
    const body = hf[1];
    const parts = body.split('/');
    if (parts.length < 2) return { error: `'${text}' must name a repository as hf:org/name (optionally @revision and /file)` };
    const org = parts[0];
    let name = parts[1];
    let revision = 'main';
    let pinned = false;
    const at = name.indexOf('@');
    if (at >= 0) {
      revision = name.slice(at + 1);
      name = name.slice(0, at);
      pinned = true;
      if (!REVISION.test(revision) || revision.includes('..')) return { error: `'${text}': revision '${revision}' is not a branch, tag or commit name` };
    }
    for (const part of [org, name]) {
      if (!REPO_PART.test(part) || part.includes('..') || part.endsWith('.')) return { error: `'${text}': '${part}' is not a valid Hugging Face organisation or repository name` };
    }
    const path = parts.slice(2).join('/');
    const bad = checkPathInRepo(path);
    if (bad) return { error: `'${text}': ${bad}` };
    return { kind: 'hf', repo: `${org}/${name}`, revision, pinned, path, text };
  }
  const civitai = /^civitai:(\d{1,12})$/i.exec(text);
  if (civitai) return { kind: 'civitai', versionId: Number(civitai[1]), text };
  const air = /^urn:air:([a-z0-9_.-]+):([a-z0-9_.-]+):civitai:(\d{1,12})@(\d{1,12})$/i.exec(text);
  if (air) return { kind: 'civitai', ecosystem: air[1], type: air[2], modelId: Number(air[3]), versionId: Number(air[4]), text };
  if (/^civitai:/i.test(text)) return { error: `'${text}' must be civitai:<version id> (digits), or an AIR such as urn:air:sd1:checkpoint:civitai:<model>@<version>` };
  if (/^urn:air:/i.test(text)) return { error: `'${text}' is not a Civitai AIR; expected urn:air:<ecosystem>:<type>:civitai:<model id>@<version id>` };
  return { error: `'${text}' is not a hub reference` };
}

/** A canonical spelling of a reference, used as its key in the lockfile. */
export function hubRefKey(ref: HubRef): string {
  if (ref.kind === 'civitai') return `civitai:${ref.versionId}`;
  return `hf:${ref.repo}@${ref.revision}${ref.path ? `/${ref.path}` : ''}`;
}
