// Builds the four bundles: extension host, engine worker, CLI (all cjs for Node) and the webview (browser).
// `node esbuild.mjs --watch` rebuilds on change; `--production` minifies and drops sourcemaps.
import * as esbuild from 'esbuild';
import { existsSync, readdirSync, rmSync } from 'node:fs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
// `--tests` also bundles the extension-host test suite (test/vscode/suite → out/test/suite), which only
// `npm run test:vscode` needs; the normal build stays lean.
const tests = process.argv.includes('--tests');

// Native packages load their own binaries at run time and must stay outside the bundle.
const nativeExternals = ['onnxruntime-node', 'sharp', 'fsevents'];
// The C2PA binding (a native .node) is imported lazily by module path (src/engine/provenance/c2paLibrary.ts).
nativeExternals.push('@contentauth/c2pa-node', '@contentauth/c2pa-node/*');

/** @type {esbuild.BuildOptions} */
const nodeCommon = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  // cjs, not esm: an esm bundle that inlines CommonJS dependencies throws "Dynamic require".
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'info',
  external: ['vscode', ...nativeExternals],
};

/** @type {esbuild.BuildOptions[]} */
const builds = [
  { ...nodeCommon, entryPoints: { extension: 'src/extension/extension.ts' }, outdir: 'out' },
  { ...nodeCommon, entryPoints: { worker: 'src/engine/worker/renderWorker.ts' }, outdir: 'out' },
  { ...nodeCommon, entryPoints: { cli: 'src/cli/bin.ts' }, outdir: 'out' },
  {
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    sourcemap: !production,
    minify: production,
    logLevel: 'info',
    entryPoints: { webview: 'src/webview/main.ts' },
    outdir: 'out',
  },
];

if (tests) {
  const suiteDir = 'test/vscode/suite';
  const testFiles = readdirSync(suiteDir).filter((name) => name.endsWith('.test.ts'));
  // Bundles of deleted tests would still run. Remove only those (not the folder: a concurrent test run
  // may be reading it).
  const bundled = new Set(testFiles.map((name) => name.replace(/\.ts$/, '.js')));
  for (const name of existsSync('out/test/suite') ? readdirSync('out/test/suite') : []) {
    const test = name.replace(/\.map$/, '');
    if (test.endsWith('.test.js') && !bundled.has(test)) rmSync(`out/test/suite/${name}`);
  }
  builds.push({
    ...nodeCommon,
    entryPoints: ['index.ts', ...testFiles].map((name) => `${suiteDir}/${name}`),
    outdir: 'out/test/suite',
    // mocha loads its reporters and test files with require(): keep it a real module from node_modules.
    external: [...nodeCommon.external, 'mocha'],
  });
}

if (watch) {
  for (const options of builds) {
    const context = await esbuild.context(options);
    await context.watch();
  }
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
