// Builds the four bundles: extension host, engine worker, CLI (all cjs for Node) and the webview (browser).
// `node esbuild.mjs --watch` rebuilds on change; `--production` minifies and drops sourcemaps.
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

// Native packages load their own binaries at run time and must stay outside the bundle.
const nativeExternals = ['onnxruntime-node', 'sharp', 'chokidar', 'fsevents'];

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

if (watch) {
  for (const options of builds) {
    const context = await esbuild.context(options);
    await context.watch();
  }
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
