// The model folders a bare `model:` name can pick: sub-folders of the configured model paths and the
// built-in models/ that hold a model_index.json. The first folder of a name wins, as in the engine's
// lookup. Plain Node, unit-tested on the fixture models.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelLocation } from '../../engine/editor';

export interface ModelFolder {
  name: string;
  dir: string;
  via: Exclude<ModelLocation['via'], 'path'>;
}

export function listModelFolders(searchPaths: readonly string[], builtinModelsDir: string | undefined): ModelFolder[] {
  const places: [string, ModelFolder['via']][] = [...searchPaths.map((p): [string, ModelFolder['via']] => [p, 'search'])];
  if (builtinModelsDir) places.push([builtinModelsDir, 'builtin']);
  const found = new Map<string, ModelFolder>();
  for (const [folder, via] of places) {
    let entries;
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch {
      continue; // a configured folder that does not exist is reported by the scene check, not here
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (!e.isDirectory() || found.has(e.name) || e.name.startsWith('.')) continue;
      const dir = join(folder, e.name);
      if (existsSync(join(dir, 'model_index.json'))) found.set(e.name, { name: e.name, dir, via });
    }
  }
  return [...found.values()];
}
