// The engine's architecture, checked: no file in src/ over 500 lines; no import cycle between the
// engine's folders (each folder a layer, the files at its top level composition or ground floor);
// the extension reaches the engine only through src/engine/editor.ts, which loads no native module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const root = resolve(__dirname, '../../..');
const src = join(root, 'src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Relative import specifiers of a file (static, dynamic and, unless `valuesOnly`, type-only imports and re-exports). */
function relativeImports(file: string, valuesOnly = false): string[] {
  let text = readFileSync(file, 'utf8');
  // Type-only imports are erased at build time: they load nothing.
  if (valuesOnly) text = text.replace(/^(?:import|export) type [^;]*;/gms, '');
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)) specs.push(m[1]);
  return specs;
}

function resolveImport(from: string, spec: string): string | undefined {
  const base = resolve(dirname(from), spec);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts'), base]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

test('no file in src/ is over 500 lines', () => {
  const long = tsFiles(src)
    .map((f) => ({ f: relative(root, f), lines: readFileSync(f, 'utf8').split('\n').length - 1 }))
    .filter((x) => x.lines > 500);
  assert.deepEqual(long, [], long.map((x) => `${x.f}: ${x.lines} lines`).join('\n'));
});

test('the engine folders import each other without a cycle', () => {
  const engine = join(src, 'engine');
  /** A file's layer: its folder under src/engine, or the top-level file itself. */
  const layer = (file: string) => relative(engine, file).split(sep)[0].replace(/\.ts$/, '');
  const edges = new Map<string, Map<string, string>>();
  for (const file of tsFiles(engine)) {
    const from = layer(file);
    for (const spec of relativeImports(file)) {
      const target = resolveImport(file, spec);
      if (!target || !target.startsWith(engine + sep)) continue;
      const to = layer(target);
      if (to === from) continue;
      if (!edges.has(from)) edges.set(from, new Map());
      edges.get(from)!.set(to, `${relative(root, file)} → ${relative(root, target)}`);
    }
  }
  // Depth-first search for a back edge; report the cycle with one import per step.
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'active');
    stack.push(node);
    for (const next of edges.get(node)?.keys() ?? []) {
      if (state.get(next) === 'active') {
        const cycle = [...stack.slice(stack.indexOf(next)), next];
        cycles.push(cycle.slice(0, -1).map((n, i) => edges.get(n)!.get(cycle[i + 1])).join('\n  '));
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...edges.keys()].sort()) if (!state.has(node)) visit(node);
  assert.deepEqual(cycles, [], `import cycles between engine folders:\n  ${cycles.join('\n\n  ')}`);
});

test('src/extension imports the engine only through src/engine/editor.ts, which reaches no native module', () => {
  const editor = join(src, 'engine', 'editor.ts');
  for (const file of tsFiles(join(src, 'extension'))) {
    for (const spec of relativeImports(file)) {
      const target = resolveImport(file, spec);
      if (target?.startsWith(join(src, 'engine') + sep)) assert.equal(target, editor, `${relative(root, file)} imports ${spec}`);
    }
  }
  // Everything editor.ts loads, transitively: none of it may import onnxruntime-node or sharp.
  const seen = new Set<string>();
  const queue = [editor];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    assert.ok(!/from '(onnxruntime-node|sharp)'/.test(text.replace(/^import type .*$/gm, '')), `${relative(root, file)} loads a native module and is reachable from the editor entry`);
    for (const spec of relativeImports(file, true)) {
      const target = resolveImport(file, spec);
      if (target) queue.push(target);
    }
  }
  assert.ok(seen.size > 20, `the editor entry reaches ${seen.size} files`);
});
