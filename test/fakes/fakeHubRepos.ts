// Serving a model folder of this repository as a hub repository (every file, paths with forward slashes).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { FakeFile } from './fakeHub';

export function folderFiles(dir: string): FakeFile[] {
  const out: FakeFile[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push({ path: relative(dir, path).split(sep).join('/'), data: readFileSync(path) });
    }
  };
  walk(dir);
  return out;
}
