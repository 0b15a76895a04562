// Runs every *.test.ts under test/ (or under the folders given as arguments) with Node's own test
// runner, TypeScript loaded through tsx. Node 20's --test does not expand globs, so we find files here.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const passThrough = process.argv.slice(2).filter((a) => a.startsWith('-'));
const skipDirs = new Set(['node_modules', 'fixtures', 'vscode', 'scale']);

function collect(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (!skipDirs.has(name)) collect(path, out);
    } else if (name.endsWith('.test.ts')) {
      out.push(relative(process.cwd(), path));
    }
  }
  return out;
}

const files = (roots.length ? roots : ['test']).flatMap((root) =>
  statSync(root).isDirectory() ? collect(root, []) : [root],
);
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...passThrough, ...files], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
