// Licences the project's imgprompt.lock records: the model card licence of a Hugging Face reference, the
// permissions of a Civitai version (`models`), and those Civitai gave for the project's own files
// (`local`, by project-relative path). The lockfile is found beside the project root, or else by walking
// up from the scene's folder; it is read once per size and mtime (an editor asks on every check).
import { statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { cachedLockfile, LOCKFILE_NAME } from '../hub/lockfile';
import type { LicenceReading } from './modelLicence';

/** The folder holding the lockfile that governs `sceneFile`: `projectRoot` when given, else the nearest one up. */
export function findLockfileRoot(sceneFile: string, projectRoot?: string): string | undefined {
  if (projectRoot) return resolve(projectRoot);
  let dir = dirname(resolve(sceneFile));
  for (let depth = 0; depth < 64; depth++) {
    try {
      if (statSync(join(dir, LOCKFILE_NAME)).isFile()) return dir;
    } catch {
      // not here; look one folder up
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
  return undefined;
}


/** The licence id as the policy knows it: trimmed, lower case. */
function reading(license: string | undefined, source: string): LicenceReading | undefined {
  const id = license?.trim().toLowerCase();
  return id ? { id, source } : undefined;
}

/**
 * The lockfile's licence for a component: `ref` is the recipe's reference (the lockfile key of an hf: or
 * civitai: reference), `path` its file or folder on disk (a `local` entry is keyed by its path from the root).
 */
export function lockedLicence(root: string | undefined, ref: string, path: string): LicenceReading | undefined {
  if (!root) return undefined;
  const lock = cachedLockfile(root);
  if (!lock) return undefined;
  const entry = lock.models[ref];
  if (entry) return reading(entry.license, `${LOCKFILE_NAME} (${entry.source === 'civitai' ? 'Civitai' : 'Hugging Face model card'})`);
  const rel = relative(root, resolve(path));
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) return undefined;
  const local = lock.local?.[rel.split(sep).join('/')];
  return local ? reading(local.license, `${LOCKFILE_NAME} (${local.civitai ? 'Civitai' : 'project file'})`) : undefined;
}
